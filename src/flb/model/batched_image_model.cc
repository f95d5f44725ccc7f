#include "flb/model/batched_image_model.h"

#include <torch/nn/functional.h>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

// x (K, B, in), w (K, out, in), b (K, out) -> (K, B, out).
torch::Tensor batched_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::baddbmm(b.unsqueeze(1), x, w.transpose(1, 2));
}

// Clients side by side in the channels: x (B, K*in, H, W), w (K, out, in, k,
// k), b (K, out) -> (B, K*out, H', W'), one grouped convolution.
torch::Tensor grouped_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const int64_t k = w.size(0);
  return F::conv2d(x, w.flatten(0, 1), F::Conv2dFuncOptions().bias(b.flatten()).groups(k));
}

torch::Tensor relu_pool(const torch::Tensor& h) { return F::max_pool2d(torch::relu(h), F::MaxPool2dFuncOptions(2)); }

// The mlp (image_models.h): fc1, fc2, fc3 with ReLU between.
torch::Tensor mlp_forward(const std::vector<torch::Tensor>& p, const torch::Tensor& x) {
  auto h = torch::relu(batched_linear(x.flatten(2), p[0], p[1]));  // (K, B, 200)
  h = torch::relu(batched_linear(h, p[2], p[3]));                  // (K, B, 200)
  return batched_linear(h, p[4], p[5]);                            // (K, B, classes)
}

// cnn and cnn-lbgm (image_models.h): two 5x5 convolutions with pooling, two linear layers.
torch::Tensor two_conv_forward(const std::vector<torch::Tensor>& p, const torch::Tensor& x) {
  const int64_t k = x.size(0), b = x.size(1);
  auto h = x.transpose(0, 1).flatten(1, 2);        // (B, K*1, 28, 28): client k's image in channel k
  h = relu_pool(grouped_conv(h, p[0], p[1]));      // (B, K*c1, 12, 12)
  h = relu_pool(grouped_conv(h, p[2], p[3]));      // (B, K*c2, 4, 4)
  h = h.reshape({b, k, -1}).transpose(0, 1);       // (K, B, c2*16), each client's flatten(1) order
  h = torch::relu(batched_linear(h, p[4], p[5]));  // (K, B, hidden)
  return batched_linear(h, p[6], p[7]);            // (K, B, classes)
}

}  // namespace

bool has_batched_forward(const std::string& model) { return model == "mlp" || model == "cnn" || model == "cnn-lbgm"; }

std::vector<std::string> batched_parameter_names(const std::string& model) {
  if (model == "mlp") return {"fc1.W", "fc1.bias", "fc2.W", "fc2.bias", "fc3.W", "fc3.bias"};
  if (model == "cnn" || model == "cnn-lbgm")
    return {"conv1.W", "conv1.bias", "conv2.W", "conv2.bias", "fc1.W", "fc1.bias", "fc2.W", "fc2.bias"};
  throw Error("--client-batch: model '" + model + "' has no batched forward (mlp, cnn and cnn-lbgm have one); use --client-batch 1");
}

torch::Tensor batched_forward(const std::string& model, const std::vector<torch::Tensor>& stacked, const torch::Tensor& x) {
  require(stacked.size() == batched_parameter_names(model).size(), "batched_forward: wrong parameter count");
  if (model == "mlp") return mlp_forward(stacked, x);
  return two_conv_forward(stacked, x);
}

}  // namespace flb::model
