// Setup: what every rank builds before round 0, identically on every rank.
//
//   pick the device and the threads
//   -> bind the algorithm (algo::make_algorithm) and the model (the task,
//      with the algorithm's low-rank layers, initialised from --seed)
//   -> freeze every parameter the algorithm does not train
//   -> the global state (copies of the trained tensors) and the local trainer
//   -> the wire schema uploads and broadcasts are decoded against
//   -> the clients' systems and the virtual clock (--system, --step-seconds)
//
// The engine (sim/experiment.cc) and the round tests share it. (Named
// RunSetup, not Setup: inside a GoogleTest body "Setup" is testing::Test's.)
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "flb/algo/algorithm.h"
#include "flb/compress/wire_format.h"
#include "flb/core/config.h"
#include "flb/sim/batched_trainer.h"
#include "flb/sim/local_trainer.h"
#include "flb/sim/task.h"
#include "flb/sim/virtual_clock.h"

namespace flb::sim {

struct RunSetup {
  torch::Device device = torch::kCPU;
  int threads = 0;                             // intra-op threads of this rank
  std::unique_ptr<Task> task;                  // the model and the clients' data
  std::unique_ptr<algo::Algorithm> algorithm;
  algo::Tensors params;                        // the trained tensors: the model's own parameters
  algo::Tensors global;                        // the global state: detached copies of params
  std::unique_ptr<LocalTrainer> trainer;       // trains params on one client at a time
  std::unique_ptr<BatchedTrainer> batched;     // --client-batch K > 1: trains K clients at once (else null)
  compress::WireSchema upload_schema;          // what every upload must match (the algorithm's)
  compress::WireSchema download_schema;        // what the broadcast must match
  VirtualClock clock;                          // virtual time and the downloads' ledger (rank 0 keeps it)

  torch::nn::Module& model() const { return task->model(); }
};

// Not collective (wrap it in sim::collectively): validates `config` and
// builds everything above. `local_rank` picks the GPU, `local_size` (ranks
// on this node) divides the usable CPUs into threads when config.threads
// is 0. Sets LibTorch's thread count and seed. Throws flb::Error for a bad
// config, a missing device or bad data.
RunSetup make_setup(const RunConfig& config, int local_rank, int local_size);

// Copies the global state into the trained tensors (the model then holds
// the global model).
void load_global(RunSetup& setup);

// "cpu", or "cuda:N" with N = local_rank modulo the visible GPUs ("auto":
// CUDA when there is one). Throws flb::Error for --device cuda without one.
torch::Device pick_device(const std::string& want, int local_rank);

// Sets requires_grad on every parameter of `model`: true exactly for those
// in `trained` (the same tensors, not copies).
void freeze_untrained(torch::nn::Module& model, const algo::Tensors& trained);

// CPUs this process may run on (Slurm's cgroup/affinity, not the node's).
int usable_cpus();
// Peak resident memory of this process, in bytes.
int64_t rss_max_bytes();

}  // namespace flb::sim
