#include "flb/sim/setup.h"

#include <sched.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <algorithm>

#include "flb/algo/registry.h"
#include "flb/core/error.h"

namespace flb::sim {

torch::Device pick_device(const std::string& want, int local_rank) {
  const bool have_cuda = torch::cuda::is_available();
  if (want == "cuda") require(have_cuda, "--device cuda: no CUDA device is visible (or this LibTorch has no CUDA); use --device cpu");
  if (want == "cpu" || !have_cuda) return torch::kCPU;
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return 1;
}

int64_t rss_max_bytes() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

void load_global(RunSetup& setup) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < setup.params.size(); ++i) setup.params[i].copy_(setup.global[i]);
}

void freeze_untrained(torch::nn::Module& model, const algo::Tensors& trained) {
  for (auto& p : model.parameters()) {
    bool is_trained = false;
    for (const auto& q : trained) is_trained = is_trained || p.is_same(q);
    p.set_requires_grad(is_trained);
  }
}

namespace {

// The trained tensors (and so their gradients and optimiser state) must be
// float32: --base-dtype may only narrow what stays frozen.
void check_trained_float32(const RunConfig& config, const algo::Tensors& trained) {
  for (const auto& p : trained)
    require(p.scalar_type() == torch::kFloat32,
            "--base-dtype " + config.model.base_dtype + ": --algorithm " + config.algorithm +
                " trains the base weights, which must stay float32; use a LoRA-family algorithm (fedit, fedprox, "
                "ffa-lora, flexlora, fed-dare, fedsrd, fedsrd-e, ...) or --base-dtype float32");
}

// --client-batch K > 1: the batched trainer, for the algorithms it
// supports (its constructor checks the model's parameters).
std::unique_ptr<BatchedTrainer> make_batched_trainer(const RunConfig& config, RunSetup& s) {
  const int64_t k = config.train.client_batch;
  if (k <= 1) return nullptr;
  const std::string flag = "--client-batch " + std::to_string(k);
  require(s.algorithm->plain_local_training(),
          flag + ": --algorithm " + config.algorithm + " is not batched (FedProx's regularizer, the FedLoRU family's "
              "merged factors, projections and private pairs); batched clients support fedavg, top-k, lbgm and the LoRA "
              "family but fedprox: use --client-batch 1");
  require(!s.algorithm->model_spec() || config.model.lora_dropout == 0,
          flag + ": --lora-dropout " + std::to_string(config.model.lora_dropout) + " would draw one mask for all " +
              std::to_string(k) + " clients, not each client's own: use --lora-dropout 0 or --client-batch 1");
  // The checkpointed block hands its own factors to autograd, not the K stacks.
  require(!config.model.activation_checkpointing,
          flag + ": --activation-checkpointing recomputes each block for one adapter, not " + std::to_string(k) +
              ": drop it or use --client-batch 1");
  return std::make_unique<BatchedTrainer>(*s.task, config.train.model, s.params, k, config.train, s.device);
}

}  // namespace

// The order of these steps is part of the results: the model's initial
// values come from LibTorch's generator right after manual_seed.
RunSetup make_setup(const RunConfig& config, int local_rank, int local_size) {
  validate(config);
  RunSetup s;
  s.device = pick_device(config.device, local_rank);
  s.threads = config.threads > 0 ? config.threads : std::max(1, usable_cpus() / std::max(1, local_size));
  torch::set_num_threads(s.threads);
  s.algorithm = algo::make_algorithm(config);  // validates the algorithm options
  algo::check_server_options(*s.algorithm, config);
  torch::manual_seed(config.seed);  // the same initial model on every rank
  model::LowRankSpec spec;          // the algorithm's low-rank layers, with the model's LoRA dropout
  if (s.algorithm->model_spec()) {
    spec = *s.algorithm->model_spec();
    spec.dropout = config.model.lora_dropout;
  }
  s.task = make_task(config, s.algorithm->model_spec() ? &spec : nullptr, s.device);
  s.params = s.algorithm->trainable(s.task->model());
  freeze_untrained(s.task->model(), s.params);
  check_trained_float32(config, s.params);
  for (const auto& p : s.params) s.global.push_back(p.detach().clone());
  s.trainer = std::make_unique<LocalTrainer>(*s.task, s.params, config.train, s.device);
  s.batched = make_batched_trainer(config, s);
  s.upload_schema = s.algorithm->upload_schema(s.params);
  s.download_schema = s.algorithm->download_schema(s.params);
  // The dense catch-up in the wire format: a part per global tensor.
  const auto dense_bytes = static_cast<int64_t>(
      compress::dense_encoded_size(s.global.size(), static_cast<uint64_t>(s.algorithm->catch_up_numel(s.global))));
  s.clock = VirtualClock(SystemModel::parse(config.system, config.clients, config.seed), config.step_seconds, dense_bytes,
                         config.compute_time == "measured");
  return s;
}

}  // namespace flb::sim
