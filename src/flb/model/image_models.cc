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

// Two 5x5 convolutions with 2x2 max pooling, then two linear layers:
// flbench's cnn (16, 32, 128) and LBGM's Fashion-MNIST CNN (20, 50, 500;
// shams-sam/FedOptim, src/models/cnn.py, class CNN with nc 1, fs 4*4*50).
// Low-rank: conv2 and fc1.
class TwoConvCnn : public ImageClassifier {
 public:
  TwoConvCnn(int64_t classes, const LowRankSpec* lr, int64_t c1, int64_t c2, int64_t hidden)
      : conv1_(register_module("conv1", make_conv(1, c1, 5, nullptr))),
        conv2_(register_module("conv2", make_conv(c1, c2, 5, lr))),
        fc1_(register_module("fc1", make_linear(c2 * 4 * 4, hidden, lr))),
        fc2_(register_module("fc2", make_linear(hidden, classes, nullptr))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = F::max_pool2d(torch::relu(conv1_->forward(x)), F::MaxPool2dFuncOptions(2));  // (B, c1, 12, 12)
    h = F::max_pool2d(torch::relu(conv2_->forward(h)), F::MaxPool2dFuncOptions(2));       // (B, c2, 4, 4)
    h = torch::relu(fc1_->forward(h.flatten(1)));                                          // (B, hidden)
    return fc2_->forward(h);                                                               // (B, classes)
  }

 private:
  std::shared_ptr<Layer> conv1_, conv2_, fc1_, fc2_;
};

// FedLoRU's LeNet (haemPark/fedloru_official, src/models/lenet.py, with
// its defaults hidden_size 64 and dropout 0.1). Only conv2 (the authors'
// "encoder", the one module their LoRU wrapper targets) is low-rank.
class LeNetFedLoRU : public ImageClassifier {
 public:
  LeNetFedLoRU(int64_t classes, const LowRankSpec* lr)
      : conv1_(register_module("conv1", make_conv(1, 64, 5, nullptr, /*padding=*/1))),
        conv2_(register_module("conv2", make_conv(64, 128, 5, lr, /*padding=*/1))),
        fc1_(register_module("fc1", make_linear(128 * 4 * 4, 64, nullptr))),
        fc2_(register_module("fc2", make_linear(64, 32, nullptr))),
        fc3_(register_module("fc3", make_linear(32, classes, nullptr))) {}

  torch::Tensor forward(const torch::Tensor& x) override {
    auto h = F::max_pool2d(torch::relu(conv1_->forward(x)), F::MaxPool2dFuncOptions(2));  // (B, 64, 13, 13)
    h = F::max_pool2d(torch::relu(conv2_->forward(h)), F::MaxPool2dFuncOptions(2));       // (B, 128, 5, 5)
    h = F::adaptive_avg_pool2d(h, F::AdaptiveAvgPool2dFuncOptions({4, 4}));               // (B, 128, 4, 4)
    h = torch::relu(fc1_->forward(h.flatten(1)));                                          // (B, 64)
    h = F::dropout(h, F::DropoutFuncOptions().p(0.1).training(is_training()));
    h = torch::relu(fc2_->forward(h));  // (B, 32)
    return fc3_->forward(h);            // (B, classes)
  }

 private:
  std::shared_ptr<Layer> conv1_, conv2_, fc1_, fc2_, fc3_;
};

}  // namespace

const std::vector<std::string>& image_model_names() {
  static const std::vector<std::string> names = {"mlp", "cnn", "lenet-fedloru", "cnn-lbgm"};
  return names;
}

std::shared_ptr<ImageClassifier> make_image_model(const std::string& name, int64_t classes, const LowRankSpec* low_rank) {
  if (name == "mlp") return std::make_shared<Mlp>(classes, low_rank);
  if (name == "cnn") return std::make_shared<TwoConvCnn>(classes, low_rank, 16, 32, 128);
  if (name == "lenet-fedloru") return std::make_shared<LeNetFedLoRU>(classes, low_rank);
  if (name == "cnn-lbgm") return std::make_shared<TwoConvCnn>(classes, low_rank, 20, 50, 500);
  throw Error("--model: unknown model '" + name + "' (choose mlp, cnn, lenet-fedloru or cnn-lbgm)");
}

}  // namespace flb::model
