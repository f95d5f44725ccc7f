// Local training of K clients at once on one device (--client-batch K).
//
// The K clients' copies of the model are one batched model: for a dense
// image model stacked weights, batched products and grouped convolutions
// (model/batched_image_model.h); for a model with LoRA layers K adapters
// on the one shared frozen base (model/multi_adapter.h). One step trains
// them all: the loss is the sum over clients of each
// client's mean minibatch loss, so each client's slice of the gradient is
// its own, and the optimisers (SGD, momentum, AdamW) act elementwise, so
// each slice follows its own optimiser exactly as one client at a time.
//
// Each client draws its batches exactly as LocalTrainer does (the order
// from (seed, client, round), the same epochs, the same short last batch).
// Clients with fewer steps are handled by weight: a client past its last
// step, and the padding rows of a short batch, weigh 0 in the loss; its
// values are kept as they were after its last step (later steps move an
// exhausted slice only through momentum and weight decay, and those values
// are never used). A batch with fewer than K clients still runs all K
// slices, the unused ones weighing 0, so that a client's arithmetic is
// the same whichever clients share its batch: dense runs are bitwise
// identical across rank counts for a fixed K. Multi-adapter runs are
// bitwise reproducible but not across rank counts: the shared base's
// product is one GEMM over all K clients' rows, and the BLAS rounds a row
// by its place in it. Results equal one client at a time up to the
// floating-point order of the batched products
// (tests/unit/batched_trainer_test.cc, batched_lora_test.cc,
// tests/e2e/test_client_batch.py).
//
// Supported: training with no per-client hooks (no regularizer,
// projection or private state: Algorithm::plain_local_training()) of
//   - every parameter of a dense image model with a batched forward, or
//   - only the LoRA factors of linear LoRA layers (the LoRA family on the
//     language models or the mlp), without LoRA dropout (its masks would
//     be drawn for all K clients at once, not as one client at a time).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "flb/core/config.h"
#include "flb/core/rng.h"
#include "flb/model/memory_meter.h"
#include "flb/model/multi_adapter.h"
#include "flb/model/optimizer.h"
#include "flb/sim/local_trainer.h"
#include "flb/sim/task.h"

namespace flb::sim {

class BatchedTrainer {
 public:
  // `params` are the trained tensors: a dense model's parameters (every
  // one, in model.parameters() order), or a LoRA model's factors; `k` the
  // most clients per batch. Throws flb::Error when the model has no
  // batched forward or its parameters are not the ones the forward
  // expects, or when a trained tensor of a LoRA model is not a factor of
  // a linear LoRA layer.
  BatchedTrainer(Task& task, const std::string& model, std::vector<torch::Tensor> params, int64_t k,
                 const TrainConfig& config, torch::Device device);

  int64_t capacity() const { return k_; }

  // Trains `clients` (at most capacity()), each from the values `params`
  // hold now (the global model) on its own samples. Returns each client's
  // result, in order.
  std::vector<LocalResult> train(const std::vector<int64_t>& clients, uint64_t seed, int64_t round);

  // Makes client j of the last train() current: its trained values into
  // `params`, and LibTorch's generator reseeded as LocalTrainer reseeds it
  // for that client (so what an algorithm draws while encoding is the same).
  void load_result(size_t j);

  // Optimiser state and the stacked copies, in bytes.
  int64_t state_bytes() const;
  int64_t activation_bytes() const { return meter_.max_bytes(); }

 private:
  // One client of the current group: its sample order and where it is in it.
  struct Cursor {
    Stream stream;  // LocalTrainer's (seed, client, round) stream
    std::vector<int64_t> order;
    int64_t pos = 0, steps = 0;
    uint64_t torch_seed = 0;
  };

  void start_group(const std::vector<int64_t>& clients, uint64_t seed, int64_t round);
  void load_batches(int64_t step);
  void keep_finished(int64_t step);
  torch::Tensor row_losses();

  Task& task_;
  std::string model_;
  std::vector<torch::Tensor> params_;   // the model's own parameters
  std::unique_ptr<model::MultiAdapterBinding> adapters_;  // null: a dense batched model
  std::vector<torch::Tensor> stacked_;  // (K, ...) each, trained
  std::vector<torch::Tensor> final_;    // (K, ...) each: each client's values after its last step
  int64_t k_;
  TrainConfig config_;
  model::LocalOptimizer optimizer_;
  std::vector<Cursor> cursors_;
  torch::Tensor x_, y_;                 // (K, B, ...) each: every client's batch of the step
  torch::Tensor weights_host_, weights_;  // (K, B): 1/take on a client's rows, 0 on padding and finished clients
  torch::Tensor loss_sums_;             // (K), on the device
  model::ActivationMeter meter_;
};

}  // namespace flb::sim
