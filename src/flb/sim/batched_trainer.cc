#include "flb/sim/batched_trainer.h"

#include <torch/nn/functional.h>

#include <algorithm>
#include <optional>

#include "flb/core/error.h"
#include "flb/model/batched_image_model.h"
#include "flb/model/multi_adapter.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;

// The parameters, checked against what the batched forward expects.
void check_parameters(torch::nn::Module& model, const std::string& name, const std::vector<torch::Tensor>& params) {
  const std::vector<std::string> want = model::batched_parameter_names(name);
  const auto named = model.named_parameters();
  require(named.size() == want.size() && params.size() == want.size(),
          "--client-batch: model '" + name + "' is not the dense model the batched forward expects (a low-rank or "
          "partly frozen model trains one client at a time); use --client-batch 1");
  for (size_t i = 0; i < want.size(); ++i)
    require(named[i].key() == want[i] && named[i].value().is_same(params[i]),
            "--client-batch: parameter " + std::to_string(i) + " is '" + named[i].key() + "', the batched forward expects '" +
                want[i] + "'; use --client-batch 1");
}

// A model with LoRA layers trains its clients' adapters on one shared
// base (multi-adapter); a dense one as a batched model, after checking its
// parameters are the ones the batched forward expects (null binding).
std::unique_ptr<model::MultiAdapterBinding> binding_for(torch::nn::Module& model, const std::string& name,
                                                        const std::vector<torch::Tensor>& params) {
  if (!model::low_rank_layers(model).empty()) return std::make_unique<model::MultiAdapterBinding>(model, params);
  check_parameters(model, name, params);
  return nullptr;
}

// K copies of each parameter's shape, zeroed and trained.
std::vector<torch::Tensor> stacks_for(const std::vector<torch::Tensor>& params, int64_t k, bool trained) {
  require(k >= 1, "--client-batch must be at least 1");
  std::vector<torch::Tensor> stacks;
  for (const auto& p : params) {
    std::vector<int64_t> shape = {k};
    for (int64_t d : p.sizes()) shape.push_back(d);
    stacks.push_back(torch::zeros(shape, p.options().requires_grad(false)).requires_grad_(trained));
  }
  return stacks;
}

}  // namespace

BatchedTrainer::BatchedTrainer(Task& task, const std::string& model, std::vector<torch::Tensor> params, int64_t k,
                               const TrainConfig& config, torch::Device device)
    : task_(task),
      model_(model),
      params_(std::move(params)),
      adapters_(binding_for(task.model(), model, params_)),
      stacked_(stacks_for(params_, k, /*trained=*/true)),
      final_(stacks_for(params_, k, /*trained=*/false)),
      k_(k),
      config_(config),
      optimizer_(stacked_, config.optimizer, config.lr, config.momentum, config.weight_decay),
      weights_host_(torch::zeros({k, config.batch_size}, torch::kFloat32)),
      weights_(torch::zeros({k, config.batch_size}, torch::TensorOptions(torch::kFloat32).device(device))),
      loss_sums_(torch::zeros({k}, torch::TensorOptions(torch::kFloat32).device(device))),
      meter_(device) {
  model::install_cpu_memory_counter();
}

// Every client of the group starts from the global values, with a fresh
// optimiser and its own sample order.
void BatchedTrainer::start_group(const std::vector<int64_t>& clients, uint64_t seed, int64_t round) {
  const auto n = static_cast<int64_t>(clients.size());
  require(n >= 1 && n <= k_, "BatchedTrainer::train: " + std::to_string(n) + " clients for a batch of " + std::to_string(k_));
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {  // every slice: unused ones stay finite
      stacked_[i].copy_(params_[i].unsqueeze(0).expand_as(stacked_[i]));
      final_[i].copy_(stacked_[i]);
    }
  }
  optimizer_.reset();
  loss_sums_.zero_();
  cursors_.clear();
  for (int64_t c : clients) {
    Cursor cur{Stream(seed, StreamPurpose::kClientBatches, static_cast<uint64_t>(c), static_cast<uint64_t>(round)), {}, 0, 0, 0};
    cur.torch_seed = cur.stream.next_u64() >> 1;  // LocalTrainer's draw for LibTorch's generator
    const std::vector<int64_t>& samples = task_.client_samples(c);
    cur.order.assign(samples.begin(), samples.end());
    cur.pos = static_cast<int64_t>(cur.order.size());  // forces a shuffle before the first step
    cur.steps = local_step_count(config_, static_cast<int64_t>(cur.order.size()));
    cursors_.push_back(std::move(cur));
  }
}

// Each active client's next batch into its rows of x_ and y_, as
// LocalTrainer would draw it; its rows weigh 1/take, all others 0.
void BatchedTrainer::load_batches(int64_t step) {
  const int64_t b = config_.batch_size;
  weights_host_.zero_();
  float* w = weights_host_.data_ptr<float>();
  for (size_t j = 0; j < cursors_.size(); ++j) {
    Cursor& cur = cursors_[j];
    if (step >= cur.steps) continue;
    const auto n = static_cast<int64_t>(cur.order.size());
    if (cur.pos >= n) {
      shuffle(cur.order, cur.stream);
      cur.pos = 0;
    }
    const int64_t take = std::min(b, n - cur.pos);
    auto [x, y] = task_.batch(cur.order.data() + cur.pos, take);
    cur.pos += take;
    if (!x_.defined()) {  // the first batch gives the shapes: (K, B, ...) each
      const auto stacked_shape = [&](const torch::Tensor& t) {
        std::vector<int64_t> shape = {k_, b};
        for (int64_t i = 1; i < t.dim(); ++i) shape.push_back(t.size(i));
        return shape;
      };
      x_ = torch::zeros(stacked_shape(x), x.options());
      y_ = torch::zeros(stacked_shape(y), y.options());
    }
    x_[static_cast<int64_t>(j)].narrow(0, 0, take).copy_(x);
    y_[static_cast<int64_t>(j)].narrow(0, 0, take).copy_(y);
    std::fill(w + static_cast<int64_t>(j) * b, w + static_cast<int64_t>(j) * b + take, 1.0f / static_cast<float>(take));
  }
  weights_.copy_(weights_host_);
}

// A client whose last step this was keeps the values it has now.
void BatchedTrainer::keep_finished(int64_t step) {
  torch::NoGradGuard no_grad;
  for (size_t j = 0; j < cursors_.size(); ++j) {
    if (step != cursors_[j].steps - 1) continue;
    for (size_t i = 0; i < params_.size(); ++i) final_[i][static_cast<int64_t>(j)].copy_(stacked_[i][static_cast<int64_t>(j)]);
  }
}

// Each row's mean loss (K, B): a batched model's logits, or the shared
// base carrying the K adapters (bound by train()) on all K B rows.
torch::Tensor BatchedTrainer::row_losses() {
  if (adapters_) return task_.losses(x_.flatten(0, 1), y_.flatten(0, 1)).view({k_, x_.size(1), -1}).mean(2);
  const torch::Tensor logits =  // (K, B, classes)
      model::batched_forward(model_, stacked_, x_, model::default_conv_mode(x_.device()));
  return F::cross_entropy(logits.flatten(0, 1), y_.flatten(), F::CrossEntropyFuncOptions().reduction(torch::kNone))
      .view({k_, -1});
}

std::vector<LocalResult> BatchedTrainer::train(const std::vector<int64_t>& clients, uint64_t seed, int64_t round) {
  start_group(clients, seed, round);
  std::optional<model::BoundAdapters> bound;
  if (adapters_) {
    task_.model().train();
    bound.emplace(*adapters_, stacked_);
  }
  const auto n = static_cast<int64_t>(clients.size());
  int64_t steps = 0;
  for (const Cursor& cur : cursors_) steps = std::max(steps, cur.steps);
  // All K slices run even when fewer clients are left (the unused ones
  // weigh 0): the products and convolutions then have the same shapes
  // whoever shares a batch, so results do not depend on the rank count.
  for (int64_t step = 0; step < steps; ++step) {
    load_batches(step);
    for (auto& p : stacked_) p.mutable_grad() = torch::Tensor();
    meter_.begin();
    // sum_j (client j's mean loss over its batch): slice j's gradient is client j's own
    const torch::Tensor per_client = (row_losses() * weights_).sum(1);
    per_client.sum().backward();
    optimizer_.step();
    meter_.end();
    loss_sums_.add_(per_client.detach());
    keep_finished(step);
  }
  const torch::Tensor sums = loss_sums_.to(torch::kCPU, torch::kFloat64);
  std::vector<LocalResult> out;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t s = cursors_[static_cast<size_t>(j)].steps;
    out.push_back({s > 0 ? sums[j].item<double>() / static_cast<double>(s) : 0.0, s});
  }
  return out;
}

void BatchedTrainer::load_result(size_t j) {
  require(j < cursors_.size(), "BatchedTrainer::load_result: no client " + std::to_string(j) + " in the last batch");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) params_[i].copy_(final_[i][static_cast<int64_t>(j)]);
  torch::manual_seed(cursors_[j].torch_seed);
}

int64_t BatchedTrainer::state_bytes() const {
  int64_t bytes = optimizer_.state_bytes();
  for (const auto& t : stacked_) bytes += 2 * t.numel() * static_cast<int64_t>(t.element_size());  // stacked_ and final_
  return bytes;
}

}  // namespace flb::sim
