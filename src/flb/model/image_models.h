// Classifiers for 28x28 grey images (Fashion-MNIST), LibTorch C++ frontend.
//
//   mlp  784 -> 200 -> 200 -> 10, ReLU                (199,210 parameters)
//   cnn  conv5x5(1->16) pool conv5x5(16->32) pool
//        fc(512->128) fc(128->10), ReLU               ( 80,202 parameters)
//
// Input x is (B, 1, 28, 28) float, normalised; output (B, classes) logits.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <memory>
#include <string>

namespace flb::model {

class ImageClassifier : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

// "mlp" or "cnn"; throws flb::Error for another name.
// Parameters are initialised from LibTorch's default generator: seed it
// (torch::manual_seed) identically on every rank first.
std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes);

}  // namespace flb::model
