// Classifiers for 28x28 grey images (Fashion-MNIST), LibTorch C++ frontend.
//
//   mlp  fc1 784->200, fc2 200->200, fc3 200->10, ReLU         (199,210 parameters dense)
//   cnn  conv1 5x5 1->16, pool, conv2 5x5 16->32, pool,
//        fc1 512->128, fc2 128->10, ReLU                       ( 80,202 parameters dense)
//
// With a LowRankSpec the hidden layers get low-rank updates (model/low_rank.h):
// mlp fc1, fc2; cnn conv2, fc1. As FedLoRU's authors do, the stem (conv1)
// and the classifier (last layer) stay dense and trainable.
//
// Input x is (B, 1, 28, 28) float, normalised; output (B, classes) logits.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "flb/model/low_rank.h"

namespace flb::model {

class ImageClassifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

// "mlp" or "cnn"; throws flb::Error for another name. `low_rank` may be null.
// Parameters are initialised from LibTorch's default generator: seed it
// (torch::manual_seed) identically on every rank first.
std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes,
                                                  const LowRankSpec* low_rank = nullptr);

}  // namespace flb::model
