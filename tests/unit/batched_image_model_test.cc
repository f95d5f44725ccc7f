// model/batched_image_model.h: the batched forward of K clients equals each
// client's own model (ImageClassifier::forward with that client's values,
// the reference), for both convolution modes, and the two modes give the
// same gradients.
#include "flb/model/batched_image_model.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "flb/model/image_models.h"

namespace flb::model {
namespace {

constexpr int64_t kK = 3, kB = 5;

// Each parameter stacked K times, each slice perturbed so the clients differ.
std::vector<torch::Tensor> perturbed_stacks(ImageClassifier& model) {
  std::vector<torch::Tensor> stacks;
  for (const auto& p : model.parameters()) {
    std::vector<torch::Tensor> slices;
    for (int64_t k = 0; k < kK; ++k) slices.push_back(p.detach() + 0.05 * torch::randn_like(p));
    stacks.push_back(torch::stack(slices).requires_grad_(true));
  }
  return stacks;
}

class BatchedForward : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchedForward, EqualsEachClientsOwnModelInBothConvolutionModes) {
  const std::string name = GetParam();
  torch::manual_seed(3);
  auto model = make_image_model(name, 10);
  const auto stacks = perturbed_stacks(*model);
  const torch::Tensor x = torch::randn({kK, kB, 1, 28, 28});
  torch::Tensor reference = torch::empty({kK, kB, 10});
  {
    torch::NoGradGuard no_grad;
    for (int64_t k = 0; k < kK; ++k) {
      auto params = model->parameters();
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(stacks[i][k]);
      reference[k] = model->forward(x[k]);
    }
  }
  std::vector<std::vector<torch::Tensor>> grads;
  constexpr double kTolerance = 1e-5;  // of the largest logit or gradient entry
  for (ConvMode mode : {ConvMode::kGrouped, ConvMode::kPerClient}) {
    const torch::Tensor logits = batched_forward(name, stacks, x, mode);
    const double diff = ((logits - reference).abs().max() / reference.abs().max()).item<double>();
    std::printf("[ batched forward ] %s, %s convolutions: logits differ by %.2e of the largest (tolerance %.0e)\n",
                name.c_str(), mode == ConvMode::kGrouped ? "grouped" : "per-client", diff, kTolerance);
    EXPECT_LT(diff, kTolerance);
    for (const auto& s : stacks) s.mutable_grad() = torch::Tensor();
    logits.pow(2).sum().backward();
    std::vector<torch::Tensor> g;
    for (const auto& s : stacks) g.push_back(s.grad().clone());
    grads.push_back(g);
  }
  double worst = 0;
  for (size_t i = 0; i < stacks.size(); ++i)
    worst = std::max(worst, ((grads[0][i] - grads[1][i]).abs().max() / grads[1][i].abs().max()).item<double>());
  std::printf("[ batched forward ] %s: gradients of the two modes differ by %.2e (tolerance %.0e)\n", name.c_str(), worst, kTolerance);
  EXPECT_LT(worst, kTolerance);
}

INSTANTIATE_TEST_SUITE_P(Models, BatchedForward, ::testing::Values("mlp", "cnn", "cnn-lbgm"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace flb::model
