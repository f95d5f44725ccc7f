#include "flb/comm/mpi_transport.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace flb::comm {
namespace {

// Rank r sends (r * 37) % 11 * scale bytes, byte i = (r + 3 i) mod 256; some ranks send nothing.
std::vector<uint8_t> pattern(int r, size_t scale) {
  std::vector<uint8_t> v(static_cast<size_t>((r * 37) % 11) * scale);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(r + 3 * i);
  return v;
}

// root < 0: the last rank.
void check_gather(uint64_t max_call_bytes, size_t scale, int root = 0) {
  MpiTransport comm(MPI_COMM_WORLD, max_call_bytes);
  if (root < 0) root = comm.size() - 1;
  uint64_t total = 0;
  for (int r = 0; r < comm.size(); ++r) total += pattern(r, scale).size();
  std::vector<uint8_t> mine = pattern(comm.rank(), scale);
  mine.reserve(total);
  const uint8_t* storage = mine.data();
  const Gathered g = comm.gatherv(std::move(mine), root);
  if (comm.rank() == root) {
    // Root's buffer became the result in place: its own share was not copied.
    EXPECT_EQ(g.bytes.data(), storage);
    ASSERT_EQ(g.offsets.size(), static_cast<size_t>(comm.size()) + 1);
    ASSERT_EQ(g.bytes.size(), total);
    for (int r = 0; r < comm.size(); ++r) {
      const auto want = pattern(r, scale);
      ASSERT_EQ(g.offsets[r + 1] - g.offsets[r], want.size());
      ASSERT_TRUE(std::equal(want.begin(), want.end(), g.bytes.begin() + static_cast<long>(g.offsets[r]))) << "rank " << r;
    }
    EXPECT_EQ(comm.counters().gather_received, total);
  } else {
    EXPECT_TRUE(g.bytes.empty());
  }
  // What every rank handed to MPI adds up to what rank 0 received.
  const auto sent = comm.allgather(comm.counters().gather_sent);  // root's own share included
  uint64_t sum = 0;
  for (uint64_t s : sent) sum += s;
  EXPECT_EQ(sum, total);
  // Root's own share stays in place; what the others send is chunked.
  if (total - pattern(root, scale).size() > max_call_bytes) {
    EXPECT_GT(comm.counters().gather_calls, 1u);  // it really was chunked
  }
}

TEST(MpiTransport, GathervSingleCall) { check_gather(2147483647ull, 1000); }
TEST(MpiTransport, GathervChunkedWhenOverTheCallLimit) { check_gather(7, 13); }
TEST(MpiTransport, GathervChunkedWithOneByteCalls) { check_gather(1, 3); }
TEST(MpiTransport, GathervAtTheLastRankSingleCall) { check_gather(2147483647ull, 1000, -1); }
TEST(MpiTransport, GathervAtTheLastRankChunked) { check_gather(7, 13, -1); }

TEST(MpiTransport, BcastChunkedDeliversRootBytesEverywhere) {
  MpiTransport comm(MPI_COMM_WORLD, 5);
  std::vector<uint8_t> bytes;
  if (comm.rank() == 0)
    for (int i = 0; i < 103; ++i) bytes.push_back(static_cast<uint8_t>(i * 7));
  comm.bcast(bytes);
  ASSERT_EQ(bytes.size(), 103u);
  for (int i = 0; i < 103; ++i) ASSERT_EQ(bytes[i], static_cast<uint8_t>(i * 7));
  EXPECT_EQ(comm.counters().bcast_bytes, 103u);
  EXPECT_EQ(comm.counters().bcast_calls, 21u);  // ceil(103 / 5)
}

TEST(MpiTransport, EmptyBcastIsDelivered) {
  MpiTransport comm;
  std::vector<uint8_t> bytes = {1, 2, 3};
  if (comm.rank() == 0) bytes.clear();
  comm.bcast(bytes);
  EXPECT_TRUE(bytes.empty());
}

TEST(MpiTransport, SmallCollectives) {
  MpiTransport comm;
  EXPECT_EQ(comm.any(comm.rank() == comm.size() - 1), true);
  EXPECT_EQ(comm.any(false), false);
  EXPECT_EQ(comm.max_all(static_cast<uint64_t>(comm.rank()) * 10), static_cast<uint64_t>(comm.size() - 1) * 10);
  const auto d = comm.gather_doubles(std::vector<double>(static_cast<size_t>(comm.rank()), comm.rank() + 0.5));
  if (comm.rank() == 0) {
    size_t at = 0;
    for (int r = 0; r < comm.size(); ++r)
      for (int k = 0; k < r; ++k) EXPECT_EQ(d[at++], r + 0.5);
    EXPECT_EQ(at, d.size());
  }
  std::string text = comm.rank() == 0 ? "from rank 0" : "";
  comm.bcast_text(text);
  EXPECT_EQ(text, "from rank 0");
  EXPECT_EQ(static_cast<int>(comm.hostnames().size()), comm.size());
}

// reduce_sum: the element-wise sum in rank order, at root only, counted
// in reduce_bytes; chunked like gatherv when over the call limit.
TEST(MpiTransport, ReduceSumAddsInRankOrderAtRoot) {
  for (uint64_t max_call : {2147483647ull, 5ull}) {
    MpiTransport comm(MPI_COMM_WORLD, max_call);
    std::vector<double> v = {1.0 + comm.rank(), 0.1 * comm.rank(), -2.0};
    const std::vector<double> mine = v;
    comm.reduce_sum(v, 1 % comm.size());
    if (comm.rank() == 1 % comm.size()) {
      double a = 0, b = 0, c = 0;
      for (int r = 0; r < comm.size(); ++r) {
        a += 1.0 + r;
        b += 0.1 * r;
        c += -2.0;
      }
      EXPECT_EQ(v[0], a);
      EXPECT_EQ(v[1], b);  // bitwise: the same order of additions
      EXPECT_EQ(v[2], c);
    } else {
      EXPECT_EQ(v, mine);
    }
    EXPECT_EQ(comm.counters().reduce_bytes, 3 * sizeof(double));
    EXPECT_EQ(comm.counters().gather_sent, 0u);  // not payload gathers
  }
}

TEST(MpiTransport, GatherTextKeepsEveryRanksText) {
  MpiTransport comm;
  const auto all = comm.gather_text(std::string(static_cast<size_t>(comm.rank()), 'x') + "@" + std::to_string(comm.rank()));
  if (comm.rank() == 0) {
    ASSERT_EQ(static_cast<int>(all.size()), comm.size());
    for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(all[r], std::string(static_cast<size_t>(r), 'x') + "@" + std::to_string(r));
  } else {
    EXPECT_TRUE(all.empty());
  }
  EXPECT_EQ(comm.counters().gather_sent, 0u);
  EXPECT_FALSE(comm.describe().empty());
}

// Over 2 GiB in one gather: the real large-count path (int counts would
// overflow). Opt-in (FLB_TEST_LARGE_GATHER=1): needs about 5 GiB of memory
// with 2 ranks.
TEST(MpiTransport, GathervOverTwoGiB) {
  if (!std::getenv("FLB_TEST_LARGE_GATHER")) GTEST_SKIP() << "set FLB_TEST_LARGE_GATHER=1 to run";
  MpiTransport comm;
  const size_t each = (size_t{2200} << 20) / static_cast<size_t>(comm.size()) + 1;
  std::vector<uint8_t> mine(each, static_cast<uint8_t>(comm.rank() + 1));
  const Gathered g = comm.gatherv(mine);
  if (comm.rank() == 0) {
    ASSERT_EQ(g.bytes.size(), each * static_cast<size_t>(comm.size()));
    ASSERT_GT(g.bytes.size(), size_t{2147483647});
    for (int r = 0; r < comm.size(); ++r) {
      EXPECT_EQ(g.bytes[g.offsets[r]], r + 1);
      EXPECT_EQ(g.bytes[g.offsets[r + 1] - 1], r + 1);
    }
    EXPECT_GT(comm.counters().gather_calls, 1u);
  }
}

}  // namespace
}  // namespace flb::comm
