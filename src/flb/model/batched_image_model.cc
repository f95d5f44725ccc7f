#include "flb/model/batched_image_model.h"

#include <torch/nn/functional.h>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

// Activations are feature-major per client, (K, features, B): each product
// is W_k h_k and each weight's gradient g_k h_k^T comes out in the weight's
// own layout. (With h_k W_k^T, a transposed view of W, LibTorch 1.13's CPU
// backward ran 9x slower for the mlp: 45 ms against 4.9 ms a step at K 10.)
// h (K, in, B), w (K, out, in), b (K, out) -> (K, out, B).
torch::Tensor batched_linear(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::baddbmm(b.unsqueeze(2), w, h);
}

torch::Tensor relu_pool(const torch::Tensor& h) { return F::max_pool2d(torch::relu(h), F::MaxPool2dFuncOptions(2)); }

// Clients side by side in the channels: x (B, K*in, H, W), w (K, out, in, k,
// k), b (K, out) -> (B, K*out, H', W'), one grouped convolution.
torch::Tensor grouped_conv(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return F::conv2d(x, w.flatten(0, 1), F::Conv2dFuncOptions().bias(b.flatten()).groups(w.size(0)));
}

// The two convolutions of cnn and cnn-lbgm, each with ReLU and 2x2
// pooling: x (K, B, 1, 28, 28) -> (K, c2*16, B), each client's flatten(1)
// order, feature-major.
torch::Tensor two_conv_features(const std::vector<torch::Tensor>& p, const torch::Tensor& x, ConvMode mode) {
  const int64_t k = x.size(0), b = x.size(1);
  if (mode == ConvMode::kGrouped) {
    auto h = x.transpose(0, 1).flatten(1, 2);    // (B, K*1, 28, 28): client k's image in channel k
    h = relu_pool(grouped_conv(h, p[0], p[1]));  // (B, K*c1, 12, 12)
    h = relu_pool(grouped_conv(h, p[2], p[3]));  // (B, K*c2, 4, 4)
    return h.reshape({b, k, -1}).permute({1, 2, 0});
  }
  std::vector<torch::Tensor> each;
  for (int64_t j = 0; j < k; ++j) {
    auto h = relu_pool(F::conv2d(x[j], p[0][j], F::Conv2dFuncOptions().bias(p[1][j])));  // (B, c1, 12, 12)
    h = relu_pool(F::conv2d(h, p[2][j], F::Conv2dFuncOptions().bias(p[3][j])));          // (B, c2, 4, 4)
    each.push_back(h.flatten(1));
  }
  return torch::stack(each).transpose(1, 2);
}

// The mlp (image_models.h): fc1, fc2, fc3 with ReLU between.
torch::Tensor mlp_forward(const std::vector<torch::Tensor>& p, const torch::Tensor& x) {
  auto h = x.flatten(2).transpose(1, 2);           // (K, 784, B)
  h = torch::relu(batched_linear(h, p[0], p[1]));  // (K, 200, B)
  h = torch::relu(batched_linear(h, p[2], p[3]));  // (K, 200, B)
  return batched_linear(h, p[4], p[5]);            // (K, classes, B)
}

// cnn and cnn-lbgm (image_models.h): two 5x5 convolutions with pooling, two linear layers.
torch::Tensor two_conv_forward(const std::vector<torch::Tensor>& p, const torch::Tensor& x, ConvMode mode) {
  auto h = two_conv_features(p, x, mode);          // (K, c2*16, B)
  h = torch::relu(batched_linear(h, p[4], p[5]));  // (K, hidden, B)
  return batched_linear(h, p[6], p[7]);            // (K, classes, B)
}

}  // namespace

bool has_batched_forward(const std::string& model) { return model == "mlp" || model == "cnn" || model == "cnn-lbgm"; }

std::vector<std::string> batched_parameter_names(const std::string& model) {
  if (model == "mlp") return {"fc1.W", "fc1.bias", "fc2.W", "fc2.bias", "fc3.W", "fc3.bias"};
  if (model == "cnn" || model == "cnn-lbgm")
    return {"conv1.W", "conv1.bias", "conv2.W", "conv2.bias", "fc1.W", "fc1.bias", "fc2.W", "fc2.bias"};
  throw Error("--client-batch: model '" + model + "' has no batched forward (mlp, cnn and cnn-lbgm have one); use --client-batch 1");
}

ConvMode default_conv_mode(const torch::Device& device) { return device.is_cuda() ? ConvMode::kGrouped : ConvMode::kPerClient; }

torch::Tensor batched_forward(const std::string& model, const std::vector<torch::Tensor>& stacked, const torch::Tensor& x,
                              ConvMode mode) {
  // per step: the parameter list was checked once, by the caller (BatchedTrainer's constructor)
  require(stacked.size() == (model == "mlp" ? 6u : 8u), "batched_forward: wrong parameter count");
  const torch::Tensor logits = model == "mlp" ? mlp_forward(stacked, x) : two_conv_forward(stacked, x, mode);
  return logits.transpose(1, 2);  // (K, B, classes)
}

}  // namespace flb::model
