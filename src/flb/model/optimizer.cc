#include "flb/model/optimizer.h"

#include <cmath>

#include "flb/core/error.h"

namespace flb::model {

LocalOptimizer::LocalOptimizer(const std::vector<torch::Tensor>& params, const std::string& kind, double lr,
                               double momentum, double weight_decay)
    : params_(params), lr_(lr), momentum_(momentum), weight_decay_(weight_decay) {
  require(kind == "sgd" || kind == "adamw", "--optimizer: unknown optimizer '" + kind + "' (choose sgd or adamw)");
  adam_ = kind == "adamw";
  for (const auto& p : params_) {
    m_.push_back(torch::zeros_like(p));
    if (adam_) {
      v_.push_back(torch::zeros_like(p));
      scratch_.push_back(torch::empty_like(p));
    }
  }
}

void LocalOptimizer::reset() {
  for (auto& t : m_) t.zero_();
  for (auto& t : v_) t.zero_();
  t_ = 0;
}

void LocalOptimizer::step() {
  torch::NoGradGuard no_grad;
  ++t_;
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  const double bc1 = 1.0 - std::pow(kBeta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(kBeta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i];
    const auto& g = p.grad();
    if (!g.defined()) continue;
    if (adam_) {
      if (weight_decay_ != 0) p.mul_(1.0 - lr_ * weight_decay_);
      m_[i].mul_(kBeta1).add_(g, 1.0 - kBeta1);
      v_[i].mul_(kBeta2).addcmul_(g, g, 1.0 - kBeta2);
      // p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)
      const double step = lr_ / bc1;
      auto& denom = scratch_[i];
      torch::sqrt_out(denom, v_[i]).div_(std::sqrt(bc2)).add_(kEps);
      p.addcdiv_(m_[i], denom, -step);
    } else {
      auto& buf = m_[i];
      if (weight_decay_ != 0) {
        buf.mul_(momentum_).add_(g).add_(p, weight_decay_);
      } else {
        buf.mul_(momentum_).add_(g);
      }
      p.add_(buf, -lr_);
    }
  }
}

int64_t LocalOptimizer::state_bytes() const {
  int64_t n = 0;
  for (const auto& t : m_) n += t.numel() * static_cast<int64_t>(t.element_size());
  for (const auto& t : v_) n += t.numel() * static_cast<int64_t>(t.element_size());
  return n;
}

}  // namespace flb::model
