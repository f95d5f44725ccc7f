// The local optimisers against their update rules written out by hand.
#include "flb/model/optimizer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace flb::model {
namespace {

TEST(LocalOptimizer, SgdMomentumMatchesTheRecurrence) {
  auto p = torch::tensor({1.0f, -2.0f}).requires_grad_();
  LocalOptimizer opt({p}, "sgd", 0.1, 0.9, 0.0);
  double ref[2] = {1.0, -2.0}, buf[2] = {0, 0};
  for (int step = 0; step < 5; ++step) {
    p.mutable_grad() = torch::tensor({0.5f * (step + 1), -1.0f});
    opt.step();
    const double g[2] = {0.5 * (step + 1), -1.0};
    for (int i = 0; i < 2; ++i) {
      buf[i] = 0.9 * buf[i] + g[i];
      ref[i] -= 0.1 * buf[i];
    }
  }
  EXPECT_NEAR(p[0].item<double>(), ref[0], 1e-5);
  EXPECT_NEAR(p[1].item<double>(), ref[1], 1e-5);
  opt.reset();  // a fresh client: the first step is plain SGD again
  const double before = p[0].item<double>();
  p.mutable_grad() = torch::tensor({1.0f, 0.0f});
  opt.step();
  EXPECT_NEAR(p[0].item<double>(), before - 0.1, 1e-6);
}

TEST(LocalOptimizer, AdamWMatchesTheRecurrence) {
  auto p = torch::tensor({0.5f}).requires_grad_();
  LocalOptimizer opt({p}, "adamw", 0.01, 0.0, 0.1);
  double x = 0.5, m = 0, v = 0;
  for (int t = 1; t <= 4; ++t) {
    const double g = 0.3 * t;
    p.mutable_grad() = torch::tensor({static_cast<float>(g)});
    opt.step();
    x *= 1 - 0.01 * 0.1;
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    x -= 0.01 * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.999, t))) + 1e-8);
  }
  EXPECT_NEAR(p.item<double>(), x, 1e-6);
}

}  // namespace
}  // namespace flb::model
