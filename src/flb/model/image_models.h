// Classifiers for 28x28 grey images (Fashion-MNIST), LibTorch C++ frontend.
//
//   mlp  fc1 784->200, fc2 200->200, fc3 200->10, ReLU         (199,210 parameters dense)
//   cnn  conv1 5x5 1->16, pool, conv2 5x5 16->32, pool,
//        fc1 512->128, fc2 128->10, ReLU                       ( 80,202 parameters dense)
//
// The papers' own models, as their authors' code defines them:
//
//   lenet-fedloru  FedLoRU's LeNet: conv1 5x5 pad 1 1->64, pool, conv2 5x5 pad 1
//        64->128, pool, adaptive average pool to 4x4, fc1 2048->64, dropout
//        0.1, fc2 64->32, fc3 32->10, ReLU                    (340,138 parameters dense)
//        The authors resize Fashion-MNIST to 64x64 by default; here the
//        images stay 28x28 (conv2's output is 5x5 before the 4x4 pooling).
//   cnn-lbgm  LBGM's Fashion-MNIST CNN (FedOptim's CNN): conv1 5x5 1->20, pool,
//        conv2 5x5 20->50, pool, fc1 800->500, fc2 500->10, ReLU (431,080 parameters dense)
//
// With a LowRankSpec the hidden layers get low-rank updates (model/low_rank.h):
// mlp fc1, fc2; cnn and cnn-lbgm conv2, fc1; lenet-fedloru conv2 only (the
// one layer FedLoRU's authors factorise). As they do, the stem (conv1) and
// the classifier (last layer) stay dense and trainable.
//
// Input x is (B, 1, 28, 28) float, normalised; output (B, classes) logits.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "flb/model/low_rank.h"

namespace flb::model {

class ImageClassifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

// The names make_image_model accepts, in the order --help lists them.
const std::vector<std::string>& image_model_names();

// One of image_model_names(); throws flb::Error for another name. `low_rank` may be null.
// Parameters are initialised from LibTorch's default generator: seed it
// (torch::manual_seed) identically on every rank first.
std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes,
                                                  const LowRankSpec* low_rank = nullptr);

}  // namespace flb::model
