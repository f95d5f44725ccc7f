// Local optimisers whose state is allocated once per rank and reset per
// client (reset()), so training many clients one after another allocates
// nothing per step. Updates are in place, under no_grad.
//
//   sgd    buf = momentum * buf + (g + wd * p);  p -= lr * buf
//   adamw  p *= 1 - lr * wd;  Adam step with bias correction (beta 0.9, 0.999)
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace flb::model {

class LocalOptimizer {
 public:
  // kind: "sgd" or "adamw" (flb::Error otherwise).
  LocalOptimizer(const std::vector<torch::Tensor>& params, const std::string& kind, double lr, double momentum,
                 double weight_decay);
  // Zeroes the state: the next step() starts a fresh optimiser.
  void reset();
  // One update from the parameters' .grad(); skips parameters without one.
  void step();
  // Bytes of optimiser state held.
  int64_t state_bytes() const;

 private:
  std::vector<torch::Tensor> params_, m_, v_, scratch_;  // scratch_: adam's denominator
  bool adam_;
  double lr_, momentum_, weight_decay_;
  int64_t t_ = 0;
};

}  // namespace flb::model
