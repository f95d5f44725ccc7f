// data/synthetic.h: FedProx's Synthetic(alpha, beta) is a pure function of
// (seed, client, index), whatever the order of the calls; its inputs have
// the stated covariance diag(j^-1.2) around the client's mean and its
// labels are the argmax of the client's own linear model; alpha and beta
// move the clients' models and inputs apart as the paper's generator does.
#include "flb/data/synthetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

namespace flb::data {
namespace {

std::vector<float> sample_x(const SyntheticSpec& spec, int64_t client, int64_t index, bool test, int64_t* label) {
  const SyntheticClient m = synthetic_client(spec, client);
  std::vector<float> x(kSyntheticDim);
  *label = synthetic_sample(spec, m, client, index, test, x.data());
  return x;
}

TEST(Synthetic, APureFunctionOfSeedClientAndIndex) {
  const SyntheticSpec spec{1.0, 1.0, 7};
  int64_t la = 0, lb = 0;
  const auto late = sample_x(spec, 999999, 12, false, &la);  // a late client first
  (void)sample_x(spec, 3, 0, false, &lb);
  const auto again = sample_x(spec, 999999, 12, false, &lb);
  EXPECT_EQ(late, again);
  EXPECT_EQ(la, lb);
  EXPECT_EQ(synthetic_sample_count(spec, 999999), synthetic_client(spec, 999999).samples);
  EXPECT_NE(sample_x(spec, 999999, 13, false, &lb), late);                       // another sample
  EXPECT_NE(sample_x(spec, 999999, 12, true, &lb), late);                        // its test draw
  EXPECT_NE(sample_x(SyntheticSpec{1.0, 1.0, 8}, 999999, 12, false, &lb), late);  // another seed
  for (int64_t c = 0; c < 200; ++c) EXPECT_GE(synthetic_sample_count(spec, c), 50);
}

TEST(Synthetic, InputsHaveTheStatedMeanAndCovarianceAndLabelsFollowTheClientsModel) {
  const SyntheticSpec spec{0.5, 0.5, 3};
  const int64_t client = 42, n = 20000;
  const SyntheticClient m = synthetic_client(spec, client);
  std::vector<double> mean(kSyntheticDim, 0), sq(kSyntheticDim, 0);
  std::vector<float> x(kSyntheticDim);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y = synthetic_sample(spec, m, client, i, false, x.data());
    int64_t best = 0;
    double best_z = -1e300;
    for (int64_t c = 0; c < kSyntheticClasses; ++c) {  // brute-force argmax in double
      double z = m.b[c];
      for (int64_t j = 0; j < kSyntheticDim; ++j) z += static_cast<double>(m.W[c * kSyntheticDim + j]) * x[j];
      if (z > best_z) {
        best_z = z;
        best = c;
      }
    }
    ASSERT_EQ(y, best) << "sample " << i;
    for (int64_t j = 0; j < kSyntheticDim; ++j) {
      mean[j] += x[j];
      sq[j] += (x[j] - m.v[j]) * (x[j] - m.v[j]);
    }
  }
  double worst_mean = 0, worst_var = 0;
  for (int64_t j = 0; j < kSyntheticDim; ++j) {
    const double var = std::pow(static_cast<double>(j + 1), -1.2);
    // 5 standard errors: of the mean sqrt(var / n), of the variance var sqrt(2 / n).
    worst_mean = std::max(worst_mean, std::abs(mean[j] / n - m.v[j]) / std::sqrt(var / n));
    worst_var = std::max(worst_var, std::abs(sq[j] / n - var) / (var * std::sqrt(2.0 / n)));
  }
  std::printf("synthetic x: max |mean - v| = %.2f and max |var - j^-1.2| = %.2f standard errors (tolerance 5)\n",
              worst_mean, worst_var);
  EXPECT_LT(worst_mean, 5);
  EXPECT_LT(worst_var, 5);
}

TEST(Synthetic, AlphaAndBetaSpreadTheClients) {
  // The spread of the clients' mean model entry and mean input across
  // clients: about sqrt(alpha^2 + 1/600) and sqrt(beta^2 + 1/60).
  for (double ab : {0.0, 1.0}) {
    const SyntheticSpec spec{ab, ab, 11};
    double sw = 0, sw2 = 0, sv = 0, sv2 = 0;
    const int64_t clients = 2000;
    for (int64_t c = 0; c < clients; ++c) {
      const SyntheticClient m = synthetic_client(spec, c);
      double w = 0, v = 0;
      for (float e : m.W) w += e;
      for (float e : m.v) v += e;
      w /= m.W.size();
      v /= m.v.size();
      sw += w;
      sw2 += w * w;
      sv += v;
      sv2 += v * v;
    }
    const double sd_w = std::sqrt(sw2 / clients - (sw / clients) * (sw / clients));
    const double sd_v = std::sqrt(sv2 / clients - (sv / clients) * (sv / clients));
    const double want_w = std::sqrt(ab * ab + 1.0 / 600), want_v = std::sqrt(ab * ab + 1.0 / 60);
    std::printf("alpha = beta = %.0f: spread of client means: model %.4f (expected %.4f), input %.4f (expected %.4f)\n",
                ab, sd_w, want_w, sd_v, want_v);
    EXPECT_NEAR(sd_w / want_w, 1.0, 0.1);
    EXPECT_NEAR(sd_v / want_v, 1.0, 0.1);
  }
}

}  // namespace
}  // namespace flb::data
