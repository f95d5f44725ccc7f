#include "flb/sim/local_trainer.h"

#include <torch/nn/functional.h>

#include "flb/core/rng.h"

namespace flb::sim {

namespace F = torch::nn::functional;

LocalTrainer::LocalTrainer(std::shared_ptr<model::ImageClassifier> model, std::vector<torch::Tensor> params,
                           const data::ImageDataset& train, const TrainConfig& config, torch::Device device)
    : model_(std::move(model)),
      params_(std::move(params)),
      config_(config),
      batches_(train, config.batch_size, device),
      optimizer_(params_, config.optimizer, config.lr, config.momentum, config.weight_decay),
      loss_sum_(torch::zeros({}, torch::TensorOptions(torch::kFloat64).device(device))) {}

LocalResult LocalTrainer::train(const std::vector<int64_t>& samples, uint64_t seed, int64_t client, int64_t round,
                                const LocalHooks& hooks) {
  model_->train();
  optimizer_.reset();
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t b = config_.batch_size;
  const int64_t steps_per_epoch = (n + b - 1) / b;
  const int64_t total_steps = config_.local_steps > 0 ? config_.local_steps : config_.local_epochs * steps_per_epoch;
  Stream stream(seed, StreamPurpose::kClientBatches, static_cast<uint64_t>(client), static_cast<uint64_t>(round));
  order_.assign(samples.begin(), samples.end());
  loss_sum_.zero_();
  int64_t pos = n;  // forces a shuffle before the first step
  for (int64_t step = 0; step < total_steps; ++step) {
    if (pos >= n) {
      shuffle(order_, stream);
      pos = 0;
    }
    const int64_t take = std::min(b, n - pos);
    auto [x, y] = batches_.load(order_.data() + pos, take);
    pos += take;
    for (auto& p : params_) p.mutable_grad() = torch::Tensor();  // set_to_none, as PyTorch's zero_grad()
    auto loss = F::cross_entropy(model_->forward(x), y);
    if (hooks.regularizer) {
      auto extra = hooks.regularizer();
      if (extra.defined()) loss = loss + extra;
    }
    loss.backward();
    optimizer_.step();
    if (hooks.after_step) hooks.after_step();
    loss_sum_.add_(loss.detach());  // no host sync per step
  }
  return {total_steps > 0 ? loss_sum_.item<double>() / static_cast<double>(total_steps) : 0.0, total_steps};
}

EvalResult evaluate(model::ImageClassifier& model, const data::ImageDataset& dataset, torch::Device device) {
  torch::NoGradGuard no_grad;
  model.eval();
  constexpr int64_t kBatch = 1000;
  data::ImageBatches batches(dataset, kBatch, device);
  std::vector<int64_t> ids(static_cast<size_t>(kBatch));
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t start = 0; start < dataset.count; start += kBatch) {
    const int64_t n = std::min(kBatch, dataset.count - start);
    for (int64_t i = 0; i < n; ++i) ids[i] = start + i;
    auto [x, y] = batches.load(ids.data(), n);
    auto logits = model.forward(x);
    loss_sum += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  const double count = static_cast<double>(dataset.count);
  return {loss_sum / count, static_cast<double>(correct) / count};
}

}  // namespace flb::sim
