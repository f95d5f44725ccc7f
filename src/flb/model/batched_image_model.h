// K clients' copies of a dense image classifier evaluated as one model, so a
// rank trains K clients with one forward and backward pass (--client-batch,
// sim/batched_trainer.h):
//
//   linear       y_k = W_k h_k + b_k         one batched product (baddbmm) over k
//   convolution  y_k = conv(x_k, W_k) + b_k  one grouped convolution (groups K)
//                                            on a GPU; per client on a CPU
//
// On a CPU, LibTorch 1.13's grouped convolution is 5.6x slower than K
// separate ones (cnn, K 10, one thread: 224 ms against 40 ms a step), so
// there the convolutions run per client and only the products are batched.
//
// The parameters are the model's own (model.parameters(), in that order),
// each stacked along a new leading dimension of size K. Client k's logits
// depend only on slice k of every parameter, so the gradient of a sum of
// per-client losses is, slice by slice, each client's own gradient.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

namespace flb::model {

// Whether `model` (an image_model_names() name) has a batched forward: the
// dense mlp, cnn and cnn-lbgm. lenet-fedloru is not batched: its dropout
// draws differ from one client at a time.
bool has_batched_forward(const std::string& model);

// The parameter names the batched forward expects, in order ("fc1.W",
// "fc1.bias", ...); flb::Error for a model without a batched forward.
std::vector<std::string> batched_parameter_names(const std::string& model);

// How the convolutions of K clients run: one grouped convolution, or one
// per client. Both give the same values up to rounding.
enum class ConvMode { kGrouped, kPerClient };
// Grouped on CUDA, per client elsewhere.
ConvMode default_conv_mode(const torch::Device& device);

// Logits (K, B, classes) of K clients' models on their own inputs x
// (K, B, 1, 28, 28). `stacked[i]` is parameter i of batched_parameter_names
// with a leading K.
torch::Tensor batched_forward(const std::string& model, const std::vector<torch::Tensor>& stacked, const torch::Tensor& x,
                              ConvMode mode);

}  // namespace flb::model
