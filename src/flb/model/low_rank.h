// Layers with trainable low-rank updates on a frozen base:
//
//   linear  y = x W^T + b + s * sum_p (x D_p^T) U_p^T       W (out, in), D_p (r, in), U_p (out, r)
//   conv    y = conv(x, W) + b + s * sum_p conv1x1(conv(x, D_p), U_p)   (both k x k convs padded alike)
//           W (out, in, k, k), D_p (r, in, k, k): k x k down to r channels, U_p (out, r, 1, 1)
//
// with s = alpha / r. This one structure serves LoRA (U = B starts at 0,
// D = A Kaiming-uniform, W pretrained), FedLoRU (W = 0 at the start, both
// factors Kaiming-uniform; merges s U D into W) and pFedLoRU (pair 0
// global, pair 1 private). W is frozen; b, U_p and D_p are trainable.
//
// Algorithms find these layers with low_rank_layers(model) and reach the
// factors through the LowRankLayer interface; they never need the type.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

namespace flb::model {

struct LowRankSpec {
  int64_t rank = 8;
  double alpha = 16.0;
  int pairs = 1;           // 2 for pFedLoRU's global + private pair
  bool zero_base = false;  // FedLoRU trains from W = 0
  bool zero_up = true;     // LoRA: U (= B) starts at 0; FedLoRU: Kaiming-uniform
  double dropout = 0.0;    // LoRA dropout on the input of the low-rank path (training only)
};

class LowRankLayer {
 public:
  virtual ~LowRankLayer() = default;
  virtual torch::Tensor& base() = 0;          // W, frozen
  virtual torch::Tensor& up(int pair) = 0;    // U_p
  virtual torch::Tensor& down(int pair) = 0;  // D_p
  virtual int pairs() const = 0;
  virtual int64_t rank() const = 0;
  virtual double scale() const = 0;           // s = alpha / r
  // s * U_p D_p in W's layout (no gradient).
  virtual torch::Tensor delta(int pair) = 0;

  // Multi-adapter mode (--client-batch, sim/batched_trainer.h), as mLoRA
  // and S-LoRA batch adapters: K clients' pair-0 factors, up (K, out, r)
  // and down (K, r, in); an undefined one is the layer's own, shared by all
  // K. While set, forward() takes K n inputs along its first dimension,
  // rows [k n, (k + 1) n) client k's, and gives each the frozen base plus
  // its own client's s U_k D_k. Both undefined: back to one adapter.
  // Throws flb::Error where the layer cannot (a convolution, two pairs).
  virtual void set_client_factors(const torch::Tensor& up, const torch::Tensor& down);
};

// W += s * U_p D_p, then D_p <- Kaiming-uniform (values from `uniform01`,
// a function returning numbers in [0, 1) so every rank draws the same) and
// U_p <- 0: the layer computes the same function before and after.
void merge_and_reinit(LowRankLayer& layer, int pair, const std::function<double()>& uniform01);

// Fills `t` with Kaiming-uniform values (bound 1/sqrt(fan_in), LibTorch's
// default for Linear) drawn from `uniform01`.
void kaiming_uniform(torch::Tensor& t, int64_t fan_in, const std::function<double()>& uniform01);

// Every LowRankLayer in `model`, in module order.
std::vector<LowRankLayer*> low_rank_layers(torch::nn::Module& model);

// A Linear or Conv2d layer, dense or with low-rank updates: the building
// block of the image models. forward() is the layer's function.
class Layer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

// x W^T computed in W's dtype and returned in x's: with a bfloat16 W the
// product saves x in bfloat16 for backward (half of x's bytes) and no
// float32 copy of W ever exists. x (..., in), W (out, in) -> (..., out).
torch::Tensor frozen_linear(const torch::Tensor& x, const torch::Tensor& w);

// frozen_linear(x, W) + b (b undefined: none; b keeps x's dtype). With W in
// x's dtype it is exactly F::linear(x, W, b).
torch::Tensor base_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

// spec == nullptr: a dense layer with LibTorch's default initialisation.
// bias false: no bias parameter (the Llama family's projections).
std::shared_ptr<Layer> make_linear(int64_t in, int64_t out, const LowRankSpec* spec, bool bias = true);
// A kernel x kernel convolution, stride 1, `padding` zeros on each side
// (the low-rank path's kernel x kernel down-projection pads the same).
std::shared_ptr<Layer> make_conv(int64_t in, int64_t out, int64_t kernel, const LowRankSpec* spec,
                                 int64_t padding = 0);

}  // namespace flb::model
