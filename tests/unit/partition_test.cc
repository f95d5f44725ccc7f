#include "flb/data/partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::data {
namespace {

// 10 classes of 600 samples each, in a shuffled order.
std::vector<uint8_t> balanced_labels() {
  std::vector<uint8_t> labels(6000);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>((i * 7919) % 10);
  return labels;
}

void expect_exact_cover(const std::vector<std::vector<int64_t>>& parts, size_t n) {
  std::vector<int> seen(n);
  for (const auto& p : parts) {
    EXPECT_FALSE(p.empty());
    for (int64_t i : p) {
      ASSERT_GE(i, 0);
      ASSERT_LT(i, static_cast<int64_t>(n));
      ++seen[static_cast<size_t>(i)];
    }
  }
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "sample " << i;
}

// Mean over clients of the largest class share: 0.1 for a perfect IID
// split of 10 classes, 1.0 when every client holds one class.
double mean_max_class_share(const std::vector<std::vector<int64_t>>& parts, const std::vector<uint8_t>& labels) {
  double sum = 0;
  for (const auto& p : parts) {
    std::vector<int> counts(10);
    for (int64_t i : p) ++counts[labels[i]];
    sum += *std::max_element(counts.begin(), counts.end()) / static_cast<double>(p.size());
  }
  return sum / static_cast<double>(parts.size());
}

TEST(Partition, EverySampleExactlyOnceForEveryScheme) {
  const auto labels = balanced_labels();
  for (const char* scheme : {"iid", "dirichlet", "shards"}) {
    for (int64_t clients : {1, 7, 100, 3000}) {
      SCOPED_TRACE(std::string(scheme) + " clients=" + std::to_string(clients));
      PartitionSpec spec{scheme, 0.1, 2, 5};
      expect_exact_cover(partition(labels, 10, clients, spec), labels.size());
    }
  }
}

TEST(Partition, IsAPureFunctionOfSeedAndClientCount) {
  const auto labels = balanced_labels();
  PartitionSpec spec{"dirichlet", 0.5, 2, 11};
  const auto a = partition(labels, 10, 50, spec);
  EXPECT_EQ(a, partition(labels, 10, 50, spec));
  spec.seed = 12;
  EXPECT_NE(a, partition(labels, 10, 50, spec));
}

TEST(Partition, DirichletSkewGrowsAsAlphaFalls) {
  const auto labels = balanced_labels();
  double previous = 0;
  for (double alpha : {100.0, 1.0, 0.1, 0.01}) {
    const double skew = mean_max_class_share(partition(labels, 10, 100, {"dirichlet", alpha, 2, 3}), labels);
    std::printf("alpha %-6g mean max class share %.3f\n", alpha, skew);
    EXPECT_GT(skew, previous);
    previous = skew;
  }
  EXPECT_LT(mean_max_class_share(partition(labels, 10, 100, {"dirichlet", 100.0, 2, 3}), labels), 0.25);
  EXPECT_GT(previous, 0.8);
}

TEST(Partition, IidSharesAreEqualAndMixed) {
  const auto labels = balanced_labels();
  const auto parts = partition(labels, 10, 60, {"iid", 0, 0, 1});
  for (const auto& p : parts) EXPECT_EQ(p.size(), 100u);
  EXPECT_LT(mean_max_class_share(parts, labels), 0.3);
}

TEST(Partition, ShardsGiveAtMostKClassesPerClient) {
  const auto labels = balanced_labels();
  for (int64_t k : {1, 2, 3}) {
    for (const auto& p : partition(labels, 10, 100, {"shards", 0, k, 9})) {
      std::set<int> classes;
      for (int64_t i : p) classes.insert(labels[i]);
      EXPECT_LE(static_cast<int64_t>(classes.size()), k);
    }
  }
}

// --validation-fraction: the clients' training samples and the validation
// split still cover every sample exactly once; each client gives
// round(f n) of its n samples, clamped to [1, n - 1] (none with one
// sample); lists stay ascending; the same seed gives the same split; and
// a client's share follows its own labels (what it validates is its data).
TEST(Partition, ValidationSplitTakesRoundFNFromEachClientAndCoversEverySampleOnce) {
  const auto labels = balanced_labels();
  for (double f : {0.0, 0.1, 0.5}) {
    for (int64_t clients : {1, 7, 100, 3000}) {
      SCOPED_TRACE("fraction " + std::to_string(f) + " clients=" + std::to_string(clients));
      auto parts = partition(labels, 10, clients, {"shards", 0.5, 2, 5});
      const auto before = parts;
      auto again = parts;
      const std::vector<int64_t> validation = split_validation(parts, f, 9);
      EXPECT_EQ(split_validation(again, f, 9), validation);  // a pure function of the seed
      EXPECT_EQ(again, parts);
      EXPECT_TRUE(std::is_sorted(validation.begin(), validation.end()));
      size_t want_total = 0;
      for (size_t c = 0; c < parts.size(); ++c) {
        const int64_t n = static_cast<int64_t>(before[c].size());
        const int64_t v = f == 0 || n < 2 ? 0 : std::clamp<int64_t>(std::llround(f * static_cast<double>(n)), 1, n - 1);
        ASSERT_EQ(static_cast<int64_t>(parts[c].size()), n - v) << "client " << c;
        EXPECT_TRUE(std::is_sorted(parts[c].begin(), parts[c].end()));
        want_total += static_cast<size_t>(v);
        std::set<int64_t> mine(before[c].begin(), before[c].end());  // the split only takes a client's own samples
        for (int64_t i : parts[c]) EXPECT_TRUE(mine.count(i));
      }
      ASSERT_EQ(validation.size(), want_total);
      auto all = parts;
      if (!validation.empty()) all.push_back(validation);
      expect_exact_cover(all, labels.size());
    }
  }
  auto parts = partition(labels, 10, 10, {"iid", 0.5, 2, 5});
  auto other = parts;
  EXPECT_NE(split_validation(parts, 0.1, 1), split_validation(other, 0.1, 2));  // the seed matters
  EXPECT_THROW(split_validation(parts, 1.0, 1), Error);
}

// --personal-fraction: hold_out keeps each client's slice per client,
// from that client's own samples, disjoint from what it still trains on
// and together exactly its samples; after the validation split it takes
// from what is left; another purpose draws other positions.
TEST(Partition, HoldOutKeepsEachClientsOwnSliceApartFromWhatItTrainsOn) {
  const auto labels = balanced_labels();
  auto parts = partition(labels, 10, 50, {"dirichlet", 0.3, 2, 5});
  const std::vector<int64_t> validation = split_validation(parts, 0.1, 4);
  const auto before = parts;
  auto again = parts;
  const auto held = hold_out(parts, 0.2, 4, StreamPurpose::kPersonal);
  EXPECT_EQ(hold_out(again, 0.2, 4, StreamPurpose::kPersonal), held);  // a pure function of its inputs
  ASSERT_EQ(held.size(), parts.size());
  for (size_t c = 0; c < parts.size(); ++c) {
    const int64_t n = static_cast<int64_t>(before[c].size());
    const int64_t v = n < 2 ? 0 : std::clamp<int64_t>(std::llround(0.2 * static_cast<double>(n)), 1, n - 1);
    ASSERT_EQ(static_cast<int64_t>(held[c].size()), v) << "client " << c;
    EXPECT_TRUE(std::is_sorted(held[c].begin(), held[c].end()));
    std::vector<int64_t> both = parts[c];
    both.insert(both.end(), held[c].begin(), held[c].end());
    std::sort(both.begin(), both.end());
    EXPECT_EQ(both, before[c]) << "client " << c << ": trained + held out = its samples, each once";
    for (int64_t id : held[c]) EXPECT_FALSE(std::binary_search(validation.begin(), validation.end(), id));
  }
  auto other = before;
  EXPECT_NE(hold_out(other, 0.2, 4, StreamPurpose::kValidation), held);  // the purpose picks the draws
  EXPECT_THROW(hold_out(other, 1.0, 4, StreamPurpose::kPersonal), Error);
}

TEST(Partition, RejectsMoreClientsThanSamplesAndUnknownSchemes) {
  const std::vector<uint8_t> labels(10, 0);
  EXPECT_THROW(partition(labels, 1, 11, {}), Error);
  EXPECT_THROW(partition(labels, 1, 2, {"bogus", 0.5, 2, 1}), Error);
}

}  // namespace
}  // namespace flb::data
