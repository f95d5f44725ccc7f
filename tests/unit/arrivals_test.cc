// sim/arrivals.h against references written here: each client's status
// by counting (arrived iff it is in time, still online, and fewer than K
// such clients precede it in (done_s, id) order), the server's wait by
// simulating it event by event, dropouts against the stream drawn directly.
#include "flb/sim/arrivals.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "flb/core/rng.h"

namespace flb::sim {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Brute force: a client's status from pairwise comparisons.
// Goes offline before its upload arrives, by the deadline.
bool leaves_first(size_t i, const std::vector<double>& done, const std::vector<double>& leaves, const ArrivalRule& rule) {
  return leaves[i] < done[i] && leaves[i] <= rule.deadline_s;
}

ClientStatus status_by_counting(size_t i, const std::vector<int64_t>& clients, const std::vector<double>& done,
                                const std::vector<bool>& dropped, const std::vector<double>& leaves,
                                const ArrivalRule& rule) {
  if (dropped[i]) return ClientStatus::kDropped;
  if (leaves_first(i, done, leaves, rule)) return ClientStatus::kOffline;
  if (done[i] > rule.deadline_s) return ClientStatus::kLate;
  int64_t before = 0;
  for (size_t j = 0; j < clients.size(); ++j)
    if (j != i && !dropped[j] && !leaves_first(j, done, leaves, rule) && done[j] <= rule.deadline_s &&
        (done[j] < done[i] || (done[j] == done[i] && clients[j] < clients[i])))
      ++before;
  return before < rule.wanted ? ClientStatus::kArrived : ClientStatus::kSurplus;
}

// Brute force: the server's clock stepped through a grid that holds every
// done_s, departure and deadline. A client is settled when its upload
// arrives or it leaves, whichever is first. The server stops at the K-th
// arrival, when no client is still to settle, or at the deadline.
double wait_by_simulation(const std::vector<double>& done, const std::vector<bool>& dropped,
                          const std::vector<double>& leaves, const ArrivalRule& rule, double step) {
  for (int64_t k = 0;; ++k) {
    const double t = static_cast<double>(k) * step;
    int64_t arrived = 0, pending = 0;
    double last = 0;
    for (size_t i = 0; i < done.size(); ++i) {
      if (dropped[i]) continue;
      const double settles = std::min(done[i], leaves[i]);
      if (settles > t) ++pending;
      else if (leaves[i] < done[i]) last = std::max(last, leaves[i]);  // left: noticed then
      else if (done[i] <= rule.deadline_s) ++arrived, last = std::max(last, done[i]);
    }
    if (arrived >= rule.wanted || pending == 0) return last;
    if (t >= rule.deadline_s) return rule.deadline_s;
  }
}

TEST(Arrivals, StatusesAndWaitMatchBruteForceOverRandomRounds) {
  Stream s(7, StreamPurpose::kTest);
  int64_t checked = 0, of_each[5] = {0, 0, 0, 0, 0};
  double worst = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const size_t n = 1 + s.below(12);
    std::vector<int64_t> clients;
    std::vector<double> done;
    std::vector<bool> dropped;
    std::vector<double> leaves;
    const bool windows = trial % 2 == 1;  // every other round under availability windows
    for (size_t i = 0; i < n; ++i) {
      clients.push_back(static_cast<int64_t>(3 * i + s.below(3)));
      done.push_back(0.25 * static_cast<double>(s.below(16)));  // on the grid, with ties
      dropped.push_back(s.uniform() < 0.2);
      leaves.push_back(windows && s.uniform() < 0.5 ? 0.25 * static_cast<double>(s.below(16)) : kInf);
    }
    ArrivalRule rule;
    rule.wanted = 1 + static_cast<int64_t>(s.below(n));
    if (s.uniform() < 0.6) rule.deadline_s = 0.25 * static_cast<double>(s.below(16));
    const Arrivals a = decide_arrivals(clients, done, dropped, rule, windows ? leaves : std::vector<double>{});
    ASSERT_EQ(a.status.size(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(a.status[i], status_by_counting(i, clients, done, dropped, leaves, rule))
          << "trial " << trial << " client " << i;
      ++of_each[static_cast<int>(a.status[i])];
    }
    const double want = wait_by_simulation(done, dropped, leaves, rule, 0.25);
    worst = std::max(worst, std::abs(a.duration_s - want));
    ASSERT_EQ(a.duration_s, want) << "trial " << trial;
    ++checked;
  }
  std::printf("%lld rounds: arrived %lld, dropped %lld, late %lld, surplus %lld, offline %lld; "
              "max |wait - brute force| = %g (tolerance 0)\n",
              static_cast<long long>(checked), static_cast<long long>(of_each[0]), static_cast<long long>(of_each[1]),
              static_cast<long long>(of_each[2]), static_cast<long long>(of_each[3]), static_cast<long long>(of_each[4]),
              worst);
  for (int64_t c : of_each) EXPECT_GT(c, 0);  // every status was exercised
}

TEST(Arrivals, WithoutRulesEveryClientArrivesAndTheRoundLastsItsSlowest) {
  const Arrivals a = decide_arrivals({4, 9, 2}, {1.5, 3.0, 0.5}, {false, false, false}, {3, kInf});
  EXPECT_EQ(a.count(ClientStatus::kArrived), 3);
  EXPECT_EQ(a.duration_s, 3.0);
  const Arrivals none = decide_arrivals({1, 2}, {1.0, 2.0}, {true, true}, {2, kInf});
  EXPECT_EQ(none.count(ClientStatus::kDropped), 2);
  EXPECT_EQ(none.duration_s, 0.0);
  const Arrivals all_late = decide_arrivals({1, 2}, {5.0, 6.0}, {false, false}, {2, 4.0});
  EXPECT_EQ(all_late.count(ClientStatus::kLate), 2);
  EXPECT_EQ(all_late.duration_s, 4.0);  // the server waited for the deadline
  // Client 2 leaves at 1.0, before its upload (2.0): lost, and noticed then.
  const Arrivals left = decide_arrivals({1, 2}, {0.5, 2.0}, {false, false}, {2, kInf}, {kInf, 1.0});
  EXPECT_EQ(left.status, (std::vector<ClientStatus>{ClientStatus::kArrived, ClientStatus::kOffline}));
  EXPECT_EQ(left.duration_s, 1.0);
  // Leaving after its upload arrived changes nothing.
  const Arrivals stayed = decide_arrivals({1, 2}, {0.5, 2.0}, {false, false}, {2, kInf}, {kInf, 2.0});
  EXPECT_EQ(stayed.count(ClientStatus::kArrived), 2);
  EXPECT_EQ(stayed.duration_s, 2.0);
}

TEST(Arrivals, OverSelectionCountAndDropoutsFollowTheirStream) {
  EXPECT_EQ(sampled_count(10, 0.0, 100), 10);
  EXPECT_EQ(sampled_count(10, 0.3, 100), 13);
  EXPECT_EQ(sampled_count(10, 0.25, 100), 13);  // round(12.5) away from zero
  EXPECT_EQ(sampled_count(10, 2.0, 25), 25);    // capped at the population
  int64_t dropped = 0;
  const int64_t n = 20000;
  for (int64_t c = 0; c < n; ++c) {
    Stream direct(3, StreamPurpose::kDropout, static_cast<uint64_t>(c), 5);
    const bool want = direct.uniform() < 0.3;
    ASSERT_EQ(drops_out(3, c, 5, 0.3), want);
    dropped += want;
    EXPECT_FALSE(drops_out(3, c, 5, 0.0));
  }
  const double rate = static_cast<double>(dropped) / n, sd = std::sqrt(0.3 * 0.7 / n);
  std::printf("dropout rate %.4f, want 0.3 +- %.4f (4 sd)\n", rate, 4 * sd);
  EXPECT_NEAR(rate, 0.3, 4 * sd);
}

}  // namespace
}  // namespace flb::sim
