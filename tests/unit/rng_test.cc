#include "flb/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace flb {
namespace {

TEST(Stream, SameKeySameNumbersDifferentKeyDifferentNumbers) {
  Stream a(7, StreamPurpose::kSampling, 3), b(7, StreamPurpose::kSampling, 3), c(7, StreamPurpose::kSampling, 4);
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differ += x != c.next_u64();
  }
  EXPECT_GT(differ, 95);
}

TEST(Stream, BelowIsUniform) {
  // Chi-square over 10 bins, 100k draws: 99.9% critical value for 9 dof is 27.9.
  Stream s(1, StreamPurpose::kTest);
  std::vector<int> bins(10);
  const int n = 100000;
  for (int i = 0; i < n; ++i) ++bins[s.below(10)];
  double chi2 = 0;
  for (int b : bins) chi2 += (b - n / 10.0) * (b - n / 10.0) / (n / 10.0);
  std::printf("chi2 = %.2f (critical 27.9)\n", chi2);
  EXPECT_LT(chi2, 27.9);
}

TEST(Stream, GammaHasTheRightMean) {
  // E[Gamma(k, 1)] = k, Var = k: the sample mean of 20k draws is within 5 sigma.
  for (double k : {0.1, 0.5, 1.0, 3.0}) {
    Stream s(2, StreamPurpose::kTest, static_cast<uint64_t>(k * 10));
    const int n = 20000;
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += s.gamma(k);
    const double mean = sum / n, tol = 5 * std::sqrt(k / n);
    std::printf("k = %.1f: mean %.4f, tolerance %.4f\n", k, mean, tol);
    EXPECT_NEAR(mean, k, tol);
  }
}

TEST(SampleWithoutReplacement, DistinctSortedInRange) {
  Stream s(3, StreamPurpose::kTest);
  for (int64_t k : {1, 5, 100}) {
    const auto v = sample_without_replacement(100, k, s);
    ASSERT_EQ(static_cast<int64_t>(v.size()), k);
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    EXPECT_EQ(std::set<int64_t>(v.begin(), v.end()).size(), v.size());
    EXPECT_GE(v.front(), 0);
    EXPECT_LT(v.back(), 100);
  }
}

TEST(SampleWithoutReplacement, EveryElementEquallyLikely) {
  // 3 of 10, 30k times: each element is chosen with probability 0.3.
  Stream s(4, StreamPurpose::kTest);
  std::vector<int> hits(10);
  const int trials = 30000;
  for (int t = 0; t < trials; ++t)
    for (int64_t x : sample_without_replacement(10, 3, s)) ++hits[x];
  for (int h : hits) EXPECT_NEAR(h / double(trials), 0.3, 0.015);
}

}  // namespace
}  // namespace flb
