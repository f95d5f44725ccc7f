// sim/memory_preflight.h: the estimate against its closed form written out
// here, the /proc/meminfo and cgroup parsers on real file contents, and the
// verdict over two loopback ranks on one node (their needs add up).
#include "flb/sim/memory_preflight.h"

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "flb/comm/loopback.h"
#include "flb/core/collective_error.h"

namespace flb::sim {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

TEST(MemoryPreflight, EstimateIsClientStatePlusUploadsPlusServerBuffers) {
  RankShape s;
  s.hosted_clients = 1000;
  s.sampled_per_round = 30;
  s.trainable_bytes = 400'000;
  s.dense_upload_bytes = 400'000 + 24 + 24 * 4;
  s.client_state_bound = 800'000;  // LBGM with error feedback: two copies
  s.client_state_held = 8'000'000;  // ten clients' state already there (a resumed run)
  s.rounds_left = 100;  // 3000 samples to come: every hosted client may get state
  RankNeed n = estimate_need(s);
  EXPECT_EQ(n.client_state, 1000 * 800'000 - 8'000'000);
  s.rounds_left = 5;  // 150 samples to come: at most 10 + 150 clients hold state
  EXPECT_EQ(estimate_need(s).client_state, 150 * 800'000);
  s.rounds_left = 100;
  EXPECT_EQ(n.uploads, 30 * (400'000 + 120));
  EXPECT_EQ(n.server, 0);  // not rank 0
  s.root = true;
  n = estimate_need(s);
  EXPECT_EQ(n.server, 30 * (400'120 + 400'000) + 400'000);  // gathered, decoded, the aggregate
  s.hierarchical = true;
  EXPECT_EQ(estimate_need(s).server, 2 * 400'000);  // the float64 sums
  s.hosted_clients = 7;  // fewer hosted than sampled: at most 7 uploads here
  EXPECT_EQ(estimate_need(s).uploads, 7 * 400'120);
  EXPECT_EQ(estimate_need(s).client_state, 0);  // never below what is held
}

TEST(MemoryPreflight, ParsesMemAvailableAndCgroupFiles) {
  const std::string meminfo =
      "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers: 1 kB\n";
  EXPECT_EQ(parse_mem_available(meminfo), int64_t{20000000} * 1024);
  EXPECT_EQ(parse_mem_available("MemTotal: 5 kB\n"), -1);
  EXPECT_EQ(parse_cgroup_bytes("8589934592\n"), 8589934592);
  EXPECT_EQ(parse_cgroup_bytes("max\n"), -1);
  EXPECT_EQ(parse_cgroup_bytes(""), -1);
}

TEST(MemoryPreflight, ReadsThisMachine) {
  const NodeMemory m = read_node_memory();
  EXPECT_GT(m.available, 0) << m.source;  // Linux has /proc/meminfo
  EXPECT_FALSE(m.source.empty());
  std::cout << "available " << m.available << " bytes (" << m.source << ")\n";
}

// Two ranks on one host needing 3 and 4 GiB against `available` each.
std::string verdict(int64_t available) {
  std::string summary;
  comm::run_loopback(2, [&](comm::Transport& t) {
    RankNeed need;
    need.client_state = (t.rank() == 0 ? 2 : 4) * kGiB;
    need.server = t.rank() == 0 ? kGiB : 0;
    const std::string s = check_memory(t, need, {available, "test"});
    if (t.rank() == 0) summary = s;
  });
  return summary;
}

TEST(MemoryPreflight, RefusesANodeWhoseRanksTogetherNeedMoreThanItHas) {
  try {
    verdict(6 * kGiB);
    ADD_FAILURE() << "7 GiB on a node with 6 GiB was accepted";
  } catch (const CollectiveError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("needs about 7.00 GiB more for its 2 rank(s)"), std::string::npos) << m;
    EXPECT_NE(m.find("(6.00 GiB per-client state, 0.00 GiB one round's uploads, 1.00 GiB server buffers)"), std::string::npos) << m;
    EXPECT_NE(m.find("has 6.00 GiB available (test)"), std::string::npos) << m;
    EXPECT_NE(m.find("--skip-memory-check"), std::string::npos) << m;
  }
  const std::string ok = verdict(8 * kGiB);
  EXPECT_NE(ok.find("needs about 7.00 GiB more for its 2 rank(s)"), std::string::npos) << ok;
  EXPECT_NE(verdict(-1).find("unknown"), std::string::npos);  // nothing to compare with: not refused
}

}  // namespace
}  // namespace flb::sim
