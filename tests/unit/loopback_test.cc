// comm::LoopbackTransport: N ranks on threads behave as the MPI transport
// does (the same patterns as tests/mpi/mpi_transport_test.cc), a failing
// rank does not hang the others, and sim::collectively over it tells the
// error once, from rank 0.
#include "flb/comm/loopback.h"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>

#include "flb/core/error.h"
#include "flb/sim/collectively.h"

namespace flb::comm {
namespace {

// Rank r sends (r * 37) % 11 * 13 bytes, byte i = (r + 3 i) mod 256; some ranks send nothing.
std::vector<uint8_t> pattern(int r) {
  std::vector<uint8_t> v(static_cast<size_t>((r * 37) % 11) * 13);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(r + 3 * i);
  return v;
}

TEST(Loopback, GathervBcastAndCountersOnEveryGroupSize) {
  for (int n : {1, 2, 3, 5}) {
    std::atomic<int> checked{0};
    run_loopback(n, [&](Transport& t) {
      const Gathered g = t.gatherv(pattern(t.rank()), n - 1);
      uint64_t total = 0;
      for (int r = 0; r < n; ++r) total += pattern(r).size();
      if (t.rank() == n - 1) {
        ASSERT_EQ(g.offsets.size(), static_cast<size_t>(n) + 1);
        ASSERT_EQ(g.bytes.size(), total);
        for (int r = 0; r < n; ++r) {
          const auto want = pattern(r);
          ASSERT_EQ(g.offsets[r + 1] - g.offsets[r], want.size()) << "rank " << r;
          ASSERT_TRUE(std::equal(want.begin(), want.end(), g.bytes.begin() + static_cast<long>(g.offsets[r])));
        }
        EXPECT_EQ(t.counters().gather_received, total);
      } else {
        EXPECT_TRUE(g.bytes.empty());
      }
      uint64_t sent = 0;
      for (uint64_t s : t.allgather(t.counters().gather_sent)) sent += s;
      EXPECT_EQ(sent, total);
      std::vector<uint8_t> b = t.rank() == 0 ? std::vector<uint8_t>{9, 8, 7} : std::vector<uint8_t>{1};
      t.bcast(b);
      EXPECT_EQ(b, (std::vector<uint8_t>{9, 8, 7}));
      EXPECT_EQ(t.counters().bcast_bytes, 3u);
      ++checked;
    });
    EXPECT_EQ(checked.load(), n) << n << " ranks";
  }
}

TEST(Loopback, SmallCollectives) {
  run_loopback(4, [](Transport& t) {
    EXPECT_TRUE(t.any(t.rank() == 2));
    EXPECT_FALSE(t.any(false));
    EXPECT_EQ(t.max_all(static_cast<uint64_t>(t.rank()) * 10), 30u);
    const double m = t.max_to_root(t.rank() == 1 ? 5.5 : -1.0);
    if (t.rank() == 0) {
      EXPECT_EQ(m, 5.5);
    }
    const auto d = t.gather_doubles(std::vector<double>(static_cast<size_t>(t.rank()), t.rank() + 0.5));
    if (t.rank() == 0) {
      size_t at = 0;
      for (int r = 0; r < 4; ++r)
        for (int k = 0; k < r; ++k) EXPECT_EQ(d[at++], r + 0.5);
      EXPECT_EQ(at, d.size());
    }
    std::string text = t.rank() == 0 ? "from rank 0" : "";
    t.bcast_text(text);
    EXPECT_EQ(text, "from rank 0");
    EXPECT_EQ(t.hostnames().size(), 4u);
    t.barrier();
  });
}

TEST(Loopback, ReduceSumAddsInRankOrder) {
  run_loopback(3, [](Transport& t) {
    std::vector<double> v = {0.1 * t.rank(), 1e16, 1.0};
    if (t.rank() == 1) v[1] = -1e16;
    t.reduce_sum(v);
    if (t.rank() == 0) {
      EXPECT_EQ(v[0], (0.0 + 0.0) + 0.1 + 0.2);
      EXPECT_EQ(v[1], ((0.0 + 1e16) + -1e16) + 1e16);
      EXPECT_EQ(v[2], 3.0);
    }
    EXPECT_EQ(t.counters().reduce_bytes, 3 * sizeof(double));
  });
}

TEST(Loopback, AFailingRankDoesNotHangTheOthers) {
  try {
    run_loopback(3, [](Transport& t) {
      if (t.rank() == 1) throw Error("rank 1 gave up");
      t.barrier();  // ranks 0 and 2 wait here for rank 1
      t.barrier();
    });
    FAIL() << "no exception";
  } catch (const Error& e) {
    std::cout << "run_loopback rethrew: " << e.what() << "\n";
    EXPECT_STREQ(e.what(), "rank 1 gave up");
  }
}

// The failing ranks' messages reach rank 0 alone: printed once per job.
TEST(Loopback, CollectivelyTellsTheErrorOnceFromRankZero) {
  std::mutex m;
  std::vector<std::string> seen(3);
  run_loopback(3, [&](Transport& t) {
    try {
      sim::collectively(t, [&] {
        if (t.rank() == 2) throw Error("cannot read /data/x on rank 2");
      });
    } catch (const CollectiveError& e) {
      std::lock_guard<std::mutex> lock(m);
      seen[static_cast<size_t>(t.rank())] = e.what();
    }
  });
  for (size_t r = 0; r < 3; ++r) std::cout << "rank " << r << ": " << seen[r] << "\n";
  EXPECT_EQ(seen[0], "rank 2: cannot read /data/x on rank 2");
  EXPECT_EQ(seen[1], "another rank failed (rank 0 prints the error)");
  EXPECT_EQ(seen[2], "another rank failed (rank 0 prints the error)");
}

TEST(CollectiveMessage, NamesRanksAndPutsEachMessageOnItsOwnLine) {
  using sim::collective_message;
  EXPECT_EQ(collective_message({true, false}, {"bad --data-dir", ""}), "bad --data-dir");
  EXPECT_EQ(collective_message({false, true, false, true}, {"", "no file", "", "no file"}), "ranks 1,3: no file");
  EXPECT_EQ(collective_message({true, true, true}, {"same", "same", "other"}), "same\n  rank 2: other");
  EXPECT_EQ(collective_message({false, true, true}, {"", "a", "b"}), "rank 1: a\n  rank 2: b");
}

}  // namespace
}  // namespace flb::comm
