#include "flb/sim/placement.h"

#include <gtest/gtest.h>

namespace flb::sim {
namespace {

TEST(OwnerRank, MatchesTheBlockBoundsBruteForce) {
  for (int64_t clients : {1, 2, 7, 100, 1001}) {
    for (int ranks : {1, 2, 3, 4, 16}) {
      for (int r = 0; r < ranks; ++r) {
        for (int64_t c = r * clients / ranks; c < (r + 1) * clients / ranks; ++c)
          ASSERT_EQ(owner_rank(c, clients, ranks), r) << c << " of " << clients << " on " << ranks;
      }
    }
  }
}

TEST(SampleClients, DeterministicPerRoundAndDifferentAcrossRounds) {
  const auto a = sample_clients(5, 0, 1000, 10);
  EXPECT_EQ(a, sample_clients(5, 0, 1000, 10));
  EXPECT_NE(a, sample_clients(5, 1, 1000, 10));
  EXPECT_EQ(sample_clients(5, 3, 10, 10), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

}  // namespace
}  // namespace flb::sim
