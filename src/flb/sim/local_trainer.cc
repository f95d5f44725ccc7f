#include "flb/sim/local_trainer.h"

#include "flb/core/rng.h"

namespace flb::sim {

int64_t local_step_count(const TrainConfig& config, int64_t samples) {
  const int64_t steps_per_epoch = (samples + config.batch_size - 1) / config.batch_size;
  return config.local_steps > 0 ? config.local_steps : config.local_epochs * steps_per_epoch;
}

LocalTrainer::LocalTrainer(Task& task, std::vector<torch::Tensor> params, const TrainConfig& config, torch::Device device)
    : task_(task),
      params_(std::move(params)),
      config_(config),
      optimizer_(params_, config.optimizer, config.lr, config.momentum, config.weight_decay),
      loss_sum_(torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device))),
      meter_(device) {
  model::install_cpu_memory_counter();
}

LocalResult LocalTrainer::train(const std::vector<int64_t>& samples, uint64_t seed, int64_t client, int64_t round,
                                const LocalHooks& hooks) {
  task_.model().train();
  optimizer_.reset();
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t b = config_.batch_size;
  const int64_t total_steps = local_step_count(config_, n);
  Stream stream(seed, StreamPurpose::kClientBatches, static_cast<uint64_t>(client), static_cast<uint64_t>(round));
  // LibTorch's own generator (dropout) restarts per client, so a client's
  // training is the same whichever rank runs it.
  torch::manual_seed(stream.next_u64() >> 1);
  order_.assign(samples.begin(), samples.end());
  loss_sum_.zero_();
  int64_t pos = n;  // forces a shuffle before the first step
  for (int64_t step = 0; step < total_steps; ++step) {
    if (pos >= n) {
      shuffle(order_, stream);
      pos = 0;
    }
    const int64_t take = std::min(b, n - pos);
    auto [x, y] = task_.batch(order_.data() + pos, take);
    pos += take;
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();  // set_to_none, as PyTorch's zero_grad()
    meter_.begin();
    auto loss = task_.loss(x, y);
    if (hooks.regularizer) {
      auto extra = hooks.regularizer();
      if (extra.defined()) loss = loss + extra;
    }
    loss.backward();
    optimizer_.step();
    if (hooks.after_step) hooks.after_step();
    meter_.end();
    loss_sum_.add_(loss.detach());  // no host sync per step
  }
  return {total_steps > 0 ? loss_sum_.item<double>() / static_cast<double>(total_steps) : 0.0, total_steps};
}

}  // namespace flb::sim
