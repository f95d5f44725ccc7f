// compress/importance.h against direct loops (Eigen for the norms): scores,
// kurtosis, the adaptive ratio, score-based selection with exact sparsity
// and L1 rescaling, and the unbiasedness of the random drop.
#include "flb/compress/importance.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "flb/core/error.h"

namespace flb::compress {
namespace {

using Mat = Eigen::MatrixXd;

torch::Tensor randn(int64_t rows, int64_t cols, Stream& s) {
  torch::Tensor t = torch::empty({rows, cols}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = static_cast<float>(s.normal());
  return t;
}

Mat to_eigen(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat64).contiguous();
  Mat m(c.size(0), c.size(1));
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m(i, j) = c.data_ptr<double>()[i * c.size(1) + j];
  return m;
}

std::vector<double> flat(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

TEST(Importance, ScoresAreTheNormsOfEachElementsRank1Contribution) {
  Stream s(1, StreamPurpose::kTest);
  const int64_t d_out = 37, d_in = 23, r = 6;
  const torch::Tensor dB = randn(d_out, r, s), A_prev = randn(r, d_in, s), dA = randn(r, d_in, s), B_new = randn(d_out, r, s);
  const Mat IB = to_eigen(importance_dB(dB, A_prev)), IA = to_eigen(importance_dA(dA, B_new));
  const Mat eB = to_eigen(dB), eA = to_eigen(A_prev), edA = to_eigen(dA), eBn = to_eigen(B_new);
  ASSERT_EQ(IB.rows(), d_out);
  ASSERT_EQ(IB.cols(), r);
  ASSERT_EQ(IA.rows(), r);
  ASSERT_EQ(IA.cols(), d_in);
  double worst = 0;
  for (int64_t u = 0; u < d_out; ++u)
    for (int64_t v = 0; v < r; ++v) {
      // ||dB[u,v] e_u A_prev[v,:]||_F, the Frobenius norm of the rank-1 term itself.
      const double ref = (Eigen::VectorXd::Unit(d_out, u) * eB(u, v) * eA.row(v)).norm();
      worst = std::max(worst, std::fabs(IB(u, v) - ref) / ref);
    }
  for (int64_t u = 0; u < r; ++u)
    for (int64_t v = 0; v < d_in; ++v) {
      const double ref = (eBn.col(u) * edA(u, v)).norm();
      worst = std::max(worst, std::fabs(IA(u, v) - ref) / ref);
    }
  std::printf("max relative |score - ||rank-1 term||_F| = %.2e (tolerance 1e-6, float32)\n", worst);
  EXPECT_LT(worst, 1e-6);
  EXPECT_THROW(importance_dB(dB, dA.t()), Error);
  EXPECT_THROW(importance_dA(dA, dB.t()), Error);
}

TEST(Importance, PearsonKurtosisMatchesTheMomentFormula) {
  Stream s(2, StreamPurpose::kTest);
  const torch::Tensor x = randn(200, 50, s).abs().pow(3);  // heavy-tailed, like scores
  const std::vector<double> v = flat(x);
  const Eigen::ArrayXd a = Eigen::Map<const Eigen::ArrayXd>(v.data(), static_cast<Eigen::Index>(v.size()));
  const double mu = a.mean();
  const double ref = (a - mu).pow(4).mean() / std::pow((a - mu).square().mean(), 2);
  const double got = pearson_kurtosis(x);
  std::printf("kurtosis %.6f, reference %.6f, relative difference %.2e\n", got, ref, std::fabs(got - ref) / ref);
  EXPECT_NEAR(got, ref, 1e-10 * ref);
  // Known values: a normal sample ~3 (standard error sqrt(24 / n)), a
  // symmetric two-point distribution exactly 1, constants 1 by convention.
  const double normal = pearson_kurtosis(randn(400, 250, s));
  std::printf("normal sample kurtosis %.4f (3 +- %.4f)\n", normal, 5 * std::sqrt(24.0 / 1e5));
  EXPECT_NEAR(normal, 3.0, 5 * std::sqrt(24.0 / 1e5));
  EXPECT_NEAR(pearson_kurtosis(torch::tensor({-1.0f, 1.0f, -1.0f, 1.0f})), 1.0, 1e-12);
  EXPECT_EQ(pearson_kurtosis(torch::full({3, 3}, 2.5f)), 1.0);
}

TEST(Importance, AdaptiveRatioIsBasePlusCappedLogKurtosis) {
  const AdaptiveRatio d;
  for (double k : {0.3, 1.0, 1.5, 3.0, std::exp(1.0), 2.9, 3.01, 100.0, 1e6}) {
    const double ref = 0.85 + std::min(0.11, 0.1 * std::log(k < 1 ? 1 : k));
    EXPECT_DOUBLE_EQ(adaptive_drop_ratio(k, d), ref) << k;
  }
  EXPECT_DOUBLE_EQ(adaptive_drop_ratio(0.5), 0.85);
  EXPECT_DOUBLE_EQ(adaptive_drop_ratio(1e9), 0.96);
  EXPECT_DOUBLE_EQ(adaptive_drop_ratio(std::exp(0.5), AdaptiveRatio{0.9, 0.2, 0.05}), 0.95);
}

// The reference selection: sort every index by (score desc, index asc) and
// keep the first n - round(p n).
std::vector<uint32_t> reference_keep(const std::vector<double>& score, double p) {
  std::vector<uint32_t> order(score.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return score[a] != score[b] ? score[a] > score[b] : a < b;
  });
  const auto drop = static_cast<size_t>(std::llround(p * static_cast<double>(score.size())));
  order.resize(score.size() - drop);
  std::sort(order.begin(), order.end());
  return order;
}

TEST(Importance, SparsifyKeepsExactlyTheHighestScoresAndTheL1Norm) {
  Stream s(3, StreamPurpose::kTest);
  double worst_l1 = 0;
  int cases = 0;
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{10, 10}, {37, 23}, {1, 7}, {64, 128}}) {
    const torch::Tensor values = randn(rows, cols, s);
    // Rounded scores: plenty of ties, which the index breaks.
    const torch::Tensor scores = (randn(rows, cols, s).abs() * 4).round();
    const std::vector<double> v = flat(values), sc = flat(scores);
    const double n = static_cast<double>(v.size());
    for (double p : {0.0, 0.29, 0.5, 0.85, 0.9, 0.96, 0.999, 1.0}) {
      const std::vector<uint32_t> want = reference_keep(sc, p);
      const Part plain = sparsify_by_score(values, scores, p, false);
      const Part scaled = sparsify_by_score(values, scores, p, true);
      ++cases;
      EXPECT_EQ(plain.kind, PartKind::kSparse);
      EXPECT_EQ(plain.numel, v.size());
      ASSERT_EQ(indices_of(plain), want) << rows << "x" << cols << " p " << p;
      ASSERT_EQ(indices_of(scaled), want);
      const std::vector<float> plain_values = values_of(plain), scaled_values = values_of(scaled);
      // Achieved sparsity is the requested one, rounded to whole elements.
      EXPECT_EQ(static_cast<double>(v.size() - indices_of(plain).size()), std::floor(p * n + 0.5));
      double l1_all = 0, l1_kept = 0, l1_scaled = 0;
      for (double x : v) l1_all += std::fabs(x);
      for (uint32_t i : want) l1_kept += std::fabs(v[i]);
      for (size_t j = 0; j < want.size(); ++j) {
        EXPECT_EQ(plain_values[j], static_cast<float>(v[want[j]]));  // unscaled survivors are untouched
        l1_scaled += std::fabs(scaled_values[j]);
        EXPECT_NEAR(scaled_values[j], v[want[j]] * l1_all / l1_kept, 1e-6 * std::fabs(v[want[j]] * l1_all / l1_kept));
      }
      if (!want.empty()) worst_l1 = std::max(worst_l1, std::fabs(l1_scaled - l1_all) / l1_all);
    }
  }
  std::printf("%d cases: kept set equals the sorted reference; max relative |L1 after rescale - L1 before| = %.2e (tolerance 1e-6)\n",
              cases, worst_l1);
  EXPECT_LT(worst_l1, 1e-6);
}

TEST(Importance, SparsifyBreaksTiesByLowerIndexAndRejectsBadInput) {
  const torch::Tensor values = torch::arange(1, 9, torch::kFloat32);
  const torch::Tensor scores = torch::tensor({1.0f, 2.0f, 2.0f, 2.0f, 0.5f, 2.0f, 3.0f, 2.0f});
  // Drop round(0.5 * 8) = 4: keep 3.0 (index 6), then the 2.0s at indices 1, 2, 3.
  const Part part = sparsify_by_score(values, scores, 0.5, false);
  EXPECT_EQ(indices_of(part), (std::vector<uint32_t>{1, 2, 3, 6}));
  EXPECT_EQ(values_of(part), (std::vector<float>{2, 3, 4, 7}));
  EXPECT_THROW(sparsify_by_score(values, scores.reshape({2, 4}), 0.5), Error);
  EXPECT_THROW(sparsify_by_score(values, scores, 1.01), Error);
  EXPECT_THROW(sparsify_by_score(values, torch::full({8}, NAN), 0.5), Error);
  // All kept values zero: no rescale (and no division by zero).
  const Part zero = sparsify_by_score(torch::zeros({4}), torch::ones({4}), 0.5, true);
  EXPECT_EQ(values_of(zero), (std::vector<float>{0, 0}));
}

TEST(Importance, RandomDropIsUnbiased) {
  // One draw of element x is x / (1 - q) with probability 1 - q, else 0:
  // mean x, variance x^2 q / (1 - q). The mean of N draws is within 5
  // standard errors, |x| sqrt(q / ((1 - q) N)), of x.
  Stream init(4, StreamPurpose::kTest);
  const torch::Tensor values = randn(12, 10, init);
  const std::vector<double> v = flat(values);
  const double q = 0.8;
  const int draws = 4000;
  std::vector<double> sum(v.size());
  double kept = 0;
  Stream s(5, StreamPurpose::kTest);
  for (int t = 0; t < draws; ++t) {
    const Part part = random_drop(values, q, s);
    const std::vector<uint32_t> idx = indices_of(part);
    const std::vector<float> val = values_of(part);
    ASSERT_TRUE(std::is_sorted(idx.begin(), idx.end()));
    ASSERT_EQ(idx.size(), val.size());
    for (size_t j = 0; j < idx.size(); ++j) sum[idx[j]] += val[j];
    kept += static_cast<double>(idx.size());
  }
  double worst_z = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    const double se = std::fabs(v[i]) * std::sqrt(q / ((1 - q) * draws));
    worst_z = std::max(worst_z, std::fabs(sum[i] / draws - v[i]) / se);
  }
  const double keep_rate = kept / (draws * static_cast<double>(v.size()));
  const double keep_se = std::sqrt(q * (1 - q) / (draws * static_cast<double>(v.size())));
  std::printf("random_drop q %.1f, %d draws: max |mean - x| = %.2f standard errors (tolerance 5); keep rate %.4f (%.4f +- %.4f)\n",
              q, draws, worst_z, keep_rate, 1 - q, 5 * keep_se);
  EXPECT_LT(worst_z, 5.0);
  EXPECT_NEAR(keep_rate, 1 - q, 5 * keep_se);

  Stream a(6, StreamPurpose::kServerMask, 1), b(6, StreamPurpose::kServerMask, 1);
  const Part pa = random_drop(values, 0.5, a), pb = random_drop(values, 0.5, b);
  EXPECT_EQ(indices_of(pa), indices_of(pb));
  EXPECT_EQ(values_of(pa), values_of(pb));
  EXPECT_EQ(indices_of(random_drop(values, 0.0, a)).size(), v.size());
  EXPECT_THROW(random_drop(values, 1.0, a), Error);
}

}  // namespace
}  // namespace flb::compress
