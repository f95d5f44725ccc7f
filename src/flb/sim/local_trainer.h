// Local training of one client at a time on the task's model, shared by
// all the clients of a rank: the caller loads the global values into the
// parameters, train() runs E epochs (or S steps) of minibatch SGD/AdamW on
// the client's samples, in an order drawn from (seed, client, round).
#pragma once

#include <torch/types.h>

#include <functional>
#include <vector>

#include "flb/core/config.h"
#include "flb/model/memory_meter.h"
#include "flb/model/optimizer.h"
#include "flb/sim/task.h"

namespace flb::sim {

struct LocalResult {
  double mean_loss = 0;  // mean training loss over the client's steps
  int64_t steps = 0;
};

// What an algorithm adds to local training.
struct LocalHooks {
  std::function<torch::Tensor()> regularizer;  // a term added to every step's loss (undefined: none)
  std::function<void()> after_step;            // a projection after every optimiser step
};

// The steps a client with `samples` samples takes in a round:
// --local-steps, or --local-epochs times ceil(samples / batch size).
int64_t local_step_count(const TrainConfig& config, int64_t samples);

class LocalTrainer {
 public:
  // `params` are the tensors to train (others are frozen); they alias the
  // task model's parameters. `task` must outlive the trainer.
  LocalTrainer(Task& task, std::vector<torch::Tensor> params, const TrainConfig& config, torch::Device device);

  LocalResult train(const std::vector<int64_t>& samples, uint64_t seed, int64_t client, int64_t round,
                    const LocalHooks& hooks);

  int64_t state_bytes() const { return optimizer_.state_bytes(); }
  // The largest activation memory of one step so far, measured
  // (model/memory_meter.h): peak during forward, backward and the
  // optimiser step minus the bytes live before it. 0 before any step.
  int64_t activation_bytes() const { return meter_.max_bytes(); }

 private:
  Task& task_;
  std::vector<torch::Tensor> params_;
  TrainConfig config_;
  model::LocalOptimizer optimizer_;
  std::vector<int64_t> order_;  // reused across clients
  torch::Tensor loss_sum_;      // on the device
  model::ActivationMeter meter_;
};

}  // namespace flb::sim
