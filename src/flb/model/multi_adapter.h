// K clients' LoRA adapters on one frozen base (--client-batch for the LoRA
// family, sim/batched_trainer.h), as mLoRA and S-LoRA batch adapters: the
// trained factors of every linear LoRA layer are stacked K times, and one
// forward and backward pass of the shared base carries all K clients
// (LowRankLayer::set_client_factors):
//
//   y_k = x_k W0^T + s (x_k D_k^T) U_k^T      rows of client k, one bmm per factor over k
//
// The base product runs once over all K n rows; only the rank-r paths are
// per client. Client k's output depends on slice k of every stack only, so
// the gradient of a sum of per-client losses is, slice by slice, each
// client's own.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <vector>

#include "flb/model/low_rank.h"

namespace flb::model {

class MultiAdapterBinding {
 public:
  // Throws flb::Error, naming --client-batch 1 as the fix, unless every
  // tensor of `trained` is the up or down factor of a one-pair linear
  // LowRankLayer of `model` (FFA-LoRA trains only up: down stays shared).
  MultiAdapterBinding(torch::nn::Module& model, const std::vector<torch::Tensor>& trained);

  // stacked[i] (K, trained[i]'s shape) stands for trained[i] in its layer
  // until unbind(). REQUIRES: one stack per trained tensor, all of one K.
  void bind(const std::vector<torch::Tensor>& stacked);
  // Every layer back to its own factors.
  void unbind();

 private:
  struct Slot {
    LowRankLayer* layer = nullptr;
    int64_t up = -1, down = -1;  // index into the trained tensors; -1: the layer's own
  };
  std::vector<Slot> slots_;
};

// Binds on construction and unbinds on destruction (an exception included),
// so the model never outlives a batch in multi-adapter mode.
class BoundAdapters {
 public:
  BoundAdapters(MultiAdapterBinding& binding, const std::vector<torch::Tensor>& stacked) : binding_(binding) {
    binding_.bind(stacked);
  }
  ~BoundAdapters() { binding_.unbind(); }
  BoundAdapters(const BoundAdapters&) = delete;
  BoundAdapters& operator=(const BoundAdapters&) = delete;

 private:
  MultiAdapterBinding& binding_;
};

}  // namespace flb::model
