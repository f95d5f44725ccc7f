#include "flb/model/image_models.h"

#include <torch/nn/functional.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

class Mlp : public ImageClassifier {
 public:
  explicit Mlp(int64_t classes)
      : fc1_(register_module("fc1", torch::nn::Linear(784, 200))),
        fc2_(register_module("fc2", torch::nn::Linear(200, 200))),
        fc3_(register_module("fc3", torch::nn::Linear(200, classes))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = torch::relu(fc1_(x.flatten(1)));  // (B, 200)
    h = torch::relu(fc2_(h));                  // (B, 200)
    return fc3_(h);                            // (B, classes)
  }

 private:
  torch::nn::Linear fc1_, fc2_, fc3_;
};

class Cnn : public ImageClassifier {
 public:
  explicit Cnn(int64_t classes)
      : conv1_(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 16, 5)))),
        conv2_(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 32, 5)))),
        fc1_(register_module("fc1", torch::nn::Linear(32 * 4 * 4, 128))),
        fc2_(register_module("fc2", torch::nn::Linear(128, classes))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = F::max_pool2d(torch::relu(conv1_(x)), F::MaxPool2dFuncOptions(2));  // (B, 16, 12, 12)
    h = F::max_pool2d(torch::relu(conv2_(h)), F::MaxPool2dFuncOptions(2));       // (B, 32, 4, 4)
    h = torch::relu(fc1_(h.flatten(1)));                                          // (B, 128)
    return fc2_(h);                                                               // (B, classes)
  }

 private:
  torch::nn::Conv2d conv1_, conv2_;
  torch::nn::Linear fc1_, fc2_;
};

}  // namespace

std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes) {
  if (name == "mlp") return std::make_shared<Mlp>(classes);
  if (name == "cnn") return std::make_shared<Cnn>(classes);
  throw Error("--model: unknown model '" + name + "' (choose mlp or cnn)");
}

}  // namespace flb::model
