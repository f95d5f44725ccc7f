#include "flb/model/image_models.h"

#include <torch/nn/functional.h>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

class Mlp : public ImageClassifier {
 public:
  Mlp(int64_t classes, const LowRankSpec* lr)
      : fc1_(register_module("fc1", make_linear(784, 200, lr))),
        fc2_(register_module("fc2", make_linear(200, 200, lr))),
        fc3_(register_module("fc3", make_linear(200, classes, nullptr))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(fc1_->forward(x.flatten(1)));  // (B, 200)
    h = torch::relu(fc2_->forward(h));                  // (B, 200)
    return fc3_->forward(h);                            // (B, classes)
  }

 private:
  std::shared_ptr<Layer> fc1_, fc2_, fc3_;
};

class Cnn : public ImageClassifier {
 public:
  Cnn(int64_t classes, const LowRankSpec* lr)
      : conv1_(register_module("conv1", make_conv(1, 16, 5, nullptr))),
        conv2_(register_module("conv2", make_conv(16, 32, 5, lr))),
        fc1_(register_module("fc1", make_linear(32 * 4 * 4, 128, lr))),
        fc2_(register_module("fc2", make_linear(128, classes, nullptr))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = F::max_pool2d(torch::relu(conv1_->forward(x)), F::MaxPool2dFuncOptions(2));  // (B, 16, 12, 12)
    h = F::max_pool2d(torch::relu(conv2_->forward(h)), F::MaxPool2dFuncOptions(2));       // (B, 32, 4, 4)
    h = torch::relu(fc1_->forward(h.flatten(1)));                                          // (B, 128)
    return fc2_->forward(h);                                                               // (B, classes)
  }

 private:
  std::shared_ptr<Layer> conv1_, conv2_, fc1_, fc2_;
};

}  // namespace

std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes, const LowRankSpec* low_rank) {
  if (name == "mlp") return std::make_shared<Mlp>(classes, low_rank);
  if (name == "cnn") return std::make_shared<Cnn>(classes, low_rank);
  throw Error("--model: unknown model '" + name + "' (choose mlp or cnn)");
}

}  // namespace flb::model
