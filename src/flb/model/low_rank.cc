#include "flb/model/low_rank.h"

#include <torch/nn/functional.h>

#include <cmath>
#include <functional>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

// Dense layers name their parameters W and bias, like the factorised
// ones, so a dense checkpoint (pretraining) loads into a LoRA model by name.
// Initialisation is LibTorch's default for Linear / Conv2d.
class DenseLinear : public Layer {
 public:
  DenseLinear(int64_t in, int64_t out, bool bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    w_ = register_parameter("W", torch::empty({out, in}).uniform_(-bound, bound));
    if (bias) b_ = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return base_linear(x, w_, b_); }

 private:
  torch::Tensor w_, b_;
};

class DenseConv : public Layer {
 public:
  DenseConv(int64_t in, int64_t out, int64_t k, int64_t padding) : padding_(padding) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in * k * k));
    w_ = register_parameter("W", torch::empty({out, in, k, k}).uniform_(-bound, bound));
    b_ = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    return F::conv2d(x, w_, F::Conv2dFuncOptions().bias(b_).padding(padding_));
  }

 private:
  torch::Tensor w_, b_;
  int64_t padding_;
};

// Shared by the factorised linear and conv layers: W, b and the pairs.
class FactorizedBase : public Layer, public LowRankLayer {
 public:
  torch::Tensor& base() override { return w_; }
  torch::Tensor& up(int p) override { return u_.at(static_cast<size_t>(p)); }
  torch::Tensor& down(int p) override { return d_.at(static_cast<size_t>(p)); }
  int pairs() const override { return static_cast<int>(u_.size()); }
  int64_t rank() const override { return rank_; }
  double scale() const override { return scale_; }

 protected:
  // Registers W (shape `w_shape`, LibTorch's default init unless zero_base),
  // b (unless !bias), and the pairs with the given factor shapes.
  void build(const LowRankSpec& spec, std::vector<int64_t> w_shape, int64_t fan_in, std::vector<int64_t> u_shape,
             std::vector<int64_t> d_shape, int64_t d_fan_in, bool bias = true) {
    require(spec.rank >= 1, "--lora-rank: must be at least 1");
    rank_ = spec.rank;
    scale_ = spec.alpha / static_cast<double>(spec.rank);
    dropout_ = spec.dropout;
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    auto w = spec.zero_base ? torch::zeros(w_shape) : torch::empty(w_shape).uniform_(-bound, bound);
    w_ = register_parameter("W", w, /*requires_grad=*/false);
    if (bias) b_ = register_parameter("bias", torch::empty({w_shape[0]}).uniform_(-bound, bound));
    for (int p = 0; p < spec.pairs; ++p) {
      const double db = 1.0 / std::sqrt(static_cast<double>(d_fan_in));
      const double ub = 1.0 / std::sqrt(static_cast<double>(spec.rank));
      auto u = spec.zero_up ? torch::zeros(u_shape) : torch::empty(u_shape).uniform_(-ub, ub);
      u_.push_back(register_parameter("U" + std::to_string(p), u));
      d_.push_back(register_parameter("D" + std::to_string(p), torch::empty(d_shape).uniform_(-db, db)));
    }
  }
  torch::Tensor w_, b_;
  std::vector<torch::Tensor> u_, d_;
  // The low-rank path's input: x, or dropout(x) while training.
  torch::Tensor path_input(const torch::Tensor& x) {
    return dropout_ > 0 && is_training() ? F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(true)) : x;
  }
  int64_t rank_ = 0;
  double scale_ = 1, dropout_ = 0;
};

class FactorizedLinear : public FactorizedBase {
 public:
  FactorizedLinear(int64_t in, int64_t out, const LowRankSpec& spec, bool bias) {
    build(spec, {out, in}, in, {out, spec.rank}, {spec.rank, in}, in, bias);
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = base_linear(x, w_, b_);  // (..., out)
    const auto xin = path_input(x);
    if (clients_ > 0) return y + scale_ * client_paths(xin);
    for (size_t p = 0; p < u_.size(); ++p) y = y + scale_ * F::linear(F::linear(xin, d_[p]), u_[p]);
    return y;
  }
  torch::Tensor delta(int p) override {
    torch::NoGradGuard no_grad;
    return scale_ * torch::mm(up(p), down(p));  // (out, in)
  }
  void set_client_factors(const torch::Tensor& up, const torch::Tensor& down) override {
    clients_ = up.defined() ? up.size(0) : down.defined() ? down.size(0) : 0;
    if (clients_ == 0) {
      up_k_ = down_k_ = torch::Tensor();
      return;
    }
    require(u_.size() == 1, "multi-adapter mode: the layer has " + std::to_string(u_.size()) + " pairs, not one");
    const auto want = [&](const torch::Tensor& t, const torch::Tensor& own) {
      return !t.defined() || (t.dim() == 3 && t.size(0) == clients_ && t.size(1) == own.size(0) && t.size(2) == own.size(1));
    };
    require(want(up, u_[0]) && want(down, d_[0]), "multi-adapter mode: the factor stacks are not (K, out, r) and (K, r, in)");
    up_k_ = up;
    down_k_ = down;
  }

 private:
  // Each client's D_k then U_k on its own rows: (K n, ..., in) -> (K n, ..., out).
  torch::Tensor client_paths(const torch::Tensor& x) {
    require(x.size(0) % clients_ == 0, "multi-adapter mode: " + std::to_string(x.size(0)) + " inputs for " +
                                           std::to_string(clients_) + " clients");
    const auto h = x.reshape({clients_, -1, x.size(-1)});  // (K, n ..., in)
    const auto r = down_k_.defined() ? torch::bmm(h, down_k_.transpose(1, 2)) : F::linear(h, d_[0]);
    const auto z = up_k_.defined() ? torch::bmm(r, up_k_.transpose(1, 2)) : F::linear(r, u_[0]);
    std::vector<int64_t> shape = x.sizes().vec();
    shape.back() = z.size(-1);
    return z.reshape(shape);
  }
  int64_t clients_ = 0;
  torch::Tensor up_k_, down_k_;
};

class FactorizedConv : public FactorizedBase {
 public:
  FactorizedConv(int64_t in, int64_t out, int64_t k, int64_t padding, const LowRankSpec& spec) : padding_(padding) {
    build(spec, {out, in, k, k}, in * k * k, {out, spec.rank, 1, 1}, {spec.rank, in, k, k}, in * k * k);
  }
  // The down path pads as the base does, so both see the same receptive
  // field and delta() is exactly the kernel the pair adds to W.
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = F::conv2d(x, w_, F::Conv2dFuncOptions().bias(b_).padding(padding_));
    const auto xin = path_input(x);
    for (size_t p = 0; p < u_.size(); ++p)
      y = y + scale_ * F::conv2d(F::conv2d(xin, d_[p], F::Conv2dFuncOptions().padding(padding_)), u_[p]);
    return y;
  }
  torch::Tensor delta(int p) override {
    torch::NoGradGuard no_grad;
    const auto& u = up(p);
    const auto& d = down(p);
    return (scale_ * torch::mm(u.view({u.size(0), u.size(1)}), d.view({d.size(0), -1}))).view_as(w_);
  }

 private:
  int64_t padding_;
};

}  // namespace

void LowRankLayer::set_client_factors(const torch::Tensor& up, const torch::Tensor& down) {
  if (!up.defined() && !down.defined()) return;  // one adapter: what the layer always has
  throw Error("multi-adapter mode (--client-batch) is built for linear LoRA layers; a low-rank convolution trains one "
              "client at a time: use --client-batch 1");
}

torch::Tensor frozen_linear(const torch::Tensor& x, const torch::Tensor& w) {
  if (w.scalar_type() == x.scalar_type()) return F::linear(x, w);
  return F::linear(x.to(w.scalar_type()), w).to(x.scalar_type());
}

torch::Tensor base_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (w.scalar_type() == x.scalar_type()) return F::linear(x, w, b);  // one addmm, as before base dtypes
  auto y = frozen_linear(x, w);
  return b.defined() ? y + b : y;
}

void kaiming_uniform(torch::Tensor& t, int64_t fan_in, const std::function<double()>& uniform01) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  auto host = torch::empty({t.numel()}, torch::kFloat32);
  float* p = host.data_ptr<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>((2.0 * uniform01() - 1.0) * bound);
  t.copy_(host.view(t.sizes()));
}

void merge_and_reinit(LowRankLayer& layer, int pair, const std::function<double()>& uniform01) {
  torch::NoGradGuard no_grad;
  layer.base().add_(layer.delta(pair));
  auto& d = layer.down(pair);
  kaiming_uniform(d, d.numel() / d.size(0), uniform01);
  layer.up(pair).zero_();
}

std::vector<LowRankLayer*> low_rank_layers(torch::nn::Module& model) {
  std::vector<LowRankLayer*> out;
  if (auto* self = dynamic_cast<LowRankLayer*>(&model)) out.push_back(self);
  for (const auto& m : model.modules(/*include_self=*/false))  // self may live on the stack
    if (auto* l = dynamic_cast<LowRankLayer*>(m.get())) out.push_back(l);
  return out;
}

std::shared_ptr<Layer> make_linear(int64_t in, int64_t out, const LowRankSpec* spec, bool bias) {
  if (spec) return std::make_shared<FactorizedLinear>(in, out, *spec, bias);
  return std::make_shared<DenseLinear>(in, out, bias);
}

std::shared_ptr<Layer> make_conv(int64_t in, int64_t out, int64_t k, const LowRankSpec* spec, int64_t padding) {
  if (spec) return std::make_shared<FactorizedConv>(in, out, k, padding, *spec);
  return std::make_shared<DenseConv>(in, out, k, padding);
}

}  // namespace flb::model
