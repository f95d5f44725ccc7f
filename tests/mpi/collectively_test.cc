// sim::collectively over MPI: a failure on any rank ends every rank
// together, and only rank 0's error carries the message (prefixed by the
// failing rank), so the job prints it once.
#include "flb/sim/collectively.h"

#include <gtest/gtest.h>

#include "flb/comm/mpi_transport.h"
#include "flb/core/error.h"

namespace flb::sim {
namespace {

// What each rank's CollectiveError says when the ranks in `failing` throw
// "bad input on rank R" (or the same text when `same`).
std::string outcome(comm::Transport& t, const std::vector<int>& failing, bool same) {
  try {
    collectively(t, [&] {
      for (int r : failing)
        if (r == t.rank()) throw Error(same ? std::string("bad input") : "bad input on rank " + std::to_string(r));
    });
  } catch (const CollectiveError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Collectively, NoFailureThrowsNothing) {
  comm::MpiTransport t;
  EXPECT_EQ(outcome(t, {}, false), "(no error)");
}

TEST(Collectively, RankZeroTellsAnotherRanksFailure) {
  comm::MpiTransport t;
  const int last = t.size() - 1;
  const std::string got = outcome(t, {last}, false);
  if (t.rank() == 0) std::cout << "rank 0 saw: " << got << "\n";
  if (t.rank() == 0) {
    EXPECT_EQ(got, last == 0 ? "bad input on rank 0" : "rank " + std::to_string(last) + ": bad input on rank " +
                                                           std::to_string(last));
  } else {
    EXPECT_EQ(got, "another rank failed (rank 0 prints the error)");
  }
}

TEST(Collectively, TheSameMessageOfEveryRankIsToldOnce) {
  comm::MpiTransport t;
  std::vector<int> all;
  for (int r = 0; r < t.size(); ++r) all.push_back(r);
  const std::string got = outcome(t, all, true);
  if (t.rank() == 0) {
    EXPECT_EQ(got, "bad input");
  }
}

TEST(Collectively, DistinctMessagesGetOneLineEach) {
  comm::MpiTransport t;
  if (t.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const std::string got = outcome(t, {0, 1}, false);
  if (t.rank() == 0) {
    EXPECT_EQ(got, "bad input on rank 0\n  rank 1: bad input on rank 1");
  }
}

}  // namespace
}  // namespace flb::sim
