// Top-k with and without error feedback, against a brute-force reference.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "algo_args.h"
#include "flb/algo/registry.h"
#include "flb/algo/tensor_parts.h"

namespace flb::algo {
namespace {

// The k largest |x| of v (ties: lower index first), others zero.
std::vector<float> brute_top_k(const std::vector<float>& v, size_t k) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return std::abs(v[a]) > std::abs(v[b]); });
  std::vector<float> out(v.size(), 0.0f);
  for (size_t i = 0; i < k; ++i) out[order[i]] = v[order[i]];
  return out;
}

std::vector<float> to_vec(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

TEST(TopK, KeepsExactlyKEntriesPerTensor) {
  AlgoArgs c;
  c.name = "topk";
  c.set("--topk-ratio", 0.1);
  auto algo = make_algorithm(c, 1);
  torch::manual_seed(3);
  const Tensors global = {torch::zeros({10, 10}), torch::zeros({7})};
  const Tensors local = {torch::randn({10, 10}), torch::randn({7})};
  const compress::Payload p = algo->encode_upload({0, 0, 1}, global, local);
  ASSERT_EQ(p.parts.size(), 2u);
  EXPECT_EQ(p.parts[0].count(), 10u);  // ceil(0.1 * 100)
  EXPECT_EQ(p.parts[1].count(), 1u);   // ceil(0.7) = 1
  EXPECT_EQ(to_vec(part_to_dense(p.parts[0], global[0])), brute_top_k(to_vec(local[0]), 10));
}

// Keeps 4 of 16 entries, carrying the rest in the residual.
std::unique_ptr<Algorithm> topk_quarter_with_error_feedback() {
  AlgoArgs c;
  c.name = "topk";
  c.set("--topk-ratio", 0.25);
  c.set("--error-feedback", true);
  return make_algorithm(c, 1);
}

TEST(TopK, ErrorFeedbackSendsTopKOfUpdatePlusResidualAndConservesTheRest) {
  auto algo = topk_quarter_with_error_feedback();
  torch::manual_seed(4);
  const Tensors global = {torch::zeros({16})};
  std::vector<float> residual(16, 0.0f), sent_total(16, 0.0f), delta_total(16, 0.0f);
  for (int round = 0; round < 6; ++round) {
    const Tensors local = {torch::randn({16})};
    const auto d = to_vec(local[0]);
    std::vector<float> g(16);
    for (int i = 0; i < 16; ++i) g[i] = d[i] + residual[i];
    const auto want = brute_top_k(g, 4);
    const auto p = algo->encode_upload({5, round, 1}, global, local);
    const auto sent = to_vec(part_to_dense(p.parts[0], global[0]));
    for (int i = 0; i < 16; ++i) {
      EXPECT_FLOAT_EQ(sent[i], want[i]) << "round " << round << " entry " << i;
      residual[i] = g[i] - sent[i];
      sent_total[i] += sent[i];
      delta_total[i] += d[i];
    }
  }
  // Conservation: everything not sent is still in the residual.
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(sent_total[i] + residual[i], delta_total[i], 1e-5);
  EXPECT_EQ(algo->client_state_bytes(), 16 * 4);
}


// A lost upload (settle_upload(used = false): late, or surplus under
// over-selection) never reached the server, so all of g stays in the
// residual; the reference tracks what the server really received.
TEST(TopK, ErrorFeedbackKeepsALostUploadInTheResidual) {
  auto algo = topk_quarter_with_error_feedback();
  torch::manual_seed(8);
  const Tensors global = {torch::zeros({16})};
  std::vector<float> residual(16, 0.0f), received(16, 0.0f), delta_total(16, 0.0f);
  double worst = 0;
  for (int round = 0; round < 8; ++round) {
    const bool used = round % 3 != 1;
    const Tensors local = {torch::randn({16})};
    const auto d = to_vec(local[0]);
    std::vector<float> g(16);
    for (int i = 0; i < 16; ++i) g[i] = d[i] + residual[i];
    const auto want = brute_top_k(g, 4);
    const auto p = algo->encode_upload({5, round, 1}, global, local);
    algo->settle_upload({5, round, 1}, used);
    const auto sent = to_vec(part_to_dense(p.parts[0], global[0]));
    for (int i = 0; i < 16; ++i) {
      worst = std::max(worst, double(std::abs(sent[i] - want[i])));
      residual[i] = used ? g[i] - sent[i] : g[i];
      if (used) received[i] += sent[i];
      delta_total[i] += d[i];
    }
  }
  std::printf("max |sent - brute-force top-k of (update + residual)| = %g (tolerance 1e-6)\n", worst);
  EXPECT_LT(worst, 1e-6);
  // Conservation against what the server received: nothing lost.
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(received[i] + residual[i], delta_total[i], 1e-5);
}

}  // namespace
}  // namespace flb::algo
