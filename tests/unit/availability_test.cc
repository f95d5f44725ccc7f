// sim::Availability and the trace's `available` column against references
// written here: each schedule's windows expanded over several periods and
// stepped through on a grid finer than any window (online, when it goes
// offline, when it next comes online), and a trace's online clients and
// next online moment against its rows client by client.
#include "flb/sim/availability.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "flb/core/error.h"
#include "error_message.h"
#include "flb/sim/system_model.h"

namespace flb::sim {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kStep = 0.5;        // the grid; every window bound below is a whole second
constexpr double kHorizon = 400.0;   // the grid's end: beyond every schedule's third period

// The brute force: windows [a, b) repeated every `period` (0: once), over [0, kHorizon).
struct Expanded {
  std::vector<std::pair<double, double>> windows;
  double period;
  bool online(double t) const {
    for (int k = 0; period > 0 ? k * period <= kHorizon : k == 0; ++k)
      for (const auto& [a, b] : windows)
        if (a + k * period <= t && t < b + k * period) return true;
    return false;
  }
};

TEST(Availability, OnlineUntilAndNextOnlineMatchTheExpandedWindowsOnAGrid) {
  const std::vector<std::pair<std::string, Expanded>> cases = {
      {"10-20", {{{10, 20}}, 0}},
      {"0-5;30-45;60-61", {{{0, 5}, {30, 45}, {60, 61}}, 0}},
      {"10-20;50-100@100", {{{10, 20}, {50, 100}}, 100}},   // ends with the period, next starts at 10: no wrap
      {"0-8;20-24@24", {{{0, 8}, {20, 24}}, 24}},           // 20:00 to 08:00 every "day" of 24 s: wraps
      {"0-1@7", {{{0, 1}}, 7}},
      {"3-4;5-6;7-9@9", {{{3, 4}, {5, 6}, {7, 9}}, 9}},
  };
  int64_t points = 0;
  double worst = 0;
  for (const auto& [text, want] : cases) {
    const Availability a = Availability::parse(text, "test");
    EXPECT_EQ(Availability::parse(a.describe(), "again").describe(), a.describe()) << text;
    for (double t = 0; t < kHorizon - 100; t += kStep, ++points) {
      ASSERT_EQ(a.online(t), want.online(t)) << text << " at " << t;
      double next = kInf, until = kInf;
      for (double u = t; u < kHorizon; u += kStep)
        if (want.online(u)) { next = u; break; }
      if (want.online(t))
        for (double u = t; u < kHorizon; u += kStep)
          if (!want.online(u)) { until = u; break; }
      // A schedule that never comes back (not periodic) reaches the horizon as +infinity.
      ASSERT_EQ(a.next_online(t), next) << text << " at " << t;
      if (want.online(t)) {
        ASSERT_EQ(a.online_until(t), until) << text << " at " << t;
      }
      if (next < kInf) worst = std::max(worst, std::abs(a.next_online(t) - next));
    }
  }
  std::printf("%lld grid points over %zu schedules; max |next_online - brute force| = %g (tolerance 0)\n",
              static_cast<long long>(points), cases.size(), worst);
}

TEST(Availability, AlwaysAndAWholePeriodAreAlwaysOnline) {
  for (const std::string text : {"always", " always ", "0-60@60"}) {
    const Availability a = Availability::parse(text, "test");
    EXPECT_TRUE(a.always()) << text;
    EXPECT_EQ(a.describe(), "always");
    EXPECT_EQ(a.online_until(1e9), kInf);
    EXPECT_EQ(a.next_online(12.5), 12.5);
  }
  EXPECT_THROW(Availability::parse("10-20", "t").online_until(5), Error);  // offline then
}

TEST(Availability, MalformedSchedulesNameWhereAndWhat) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "availability is empty"},
      {"sometimes", "is not A-B"},
      {"5-5", "is empty (need A < B)"},
      {"9-3", "is empty (need A < B)"},
      {"0-10;5-20", "overlaps or touches"},
      {"0-10;10-20", "overlaps or touches"},
      {"20-30;0-10", "overlaps or touches"},
      {"0-10@5", "ends after the period 5"},
      {"0-10@0", "period must be > 0"},
      {"0-10@day", "availability period: 'day' is not a number"},
      {"-5-10", "is not a number of seconds >= 0"},
      {"0-1e999", "window end: '1e999' is not a number"},
      {"@10", "has no window"},
  };
  for (const auto& [text, want] : bad) {
    const std::string e = error_of([&] { Availability::parse(text, "trace.csv:4"); });
    EXPECT_NE(e.find("trace.csv:4: "), std::string::npos) << text << ": " << e;
    EXPECT_NE(e.find(want), std::string::npos) << text << ": " << e;
  }
}

std::string write_trace(const std::string& text) {
  const std::string path = testing::TempDir() + "/availability-trace.csv";
  std::ofstream(path) << text;
  return path;
}

TEST(SystemModelAvailability, OnlineClientsAndNextOnlineMatchTheRowsClientByClient) {
  const std::string path = write_trace(
      "class,clients,compute,up_mbps,down_mbps,latency_s,available\n"
      "night,0-3,1,5,20,0.1,0-8;20-24@24\n"
      "day,4-6,1,5,20,0.1,9-17@24\n"
      "once,7,2,50,200,0.01,100-130\n"
      "rest,*,1,10,50,0.05,12-13@24\n");
  const SystemModel m = SystemModel::parse("trace:" + path, 10, 1);
  ASSERT_TRUE(m.has_windows());
  const std::vector<std::string> row_of = {"0-8;20-24@24", "0-8;20-24@24", "0-8;20-24@24", "0-8;20-24@24",
                                           "9-17@24",      "9-17@24",      "9-17@24",      "100-130",
                                           "12-13@24",     "12-13@24"};
  int64_t checked = 0;
  for (double t = 0; t < 200; t += kStep) {
    std::vector<int64_t> want;
    double next = kInf;
    for (int64_t c = 0; c < 10; ++c) {
      const Availability a = Availability::parse(row_of[static_cast<size_t>(c)], "want");
      if (a.online(t)) want.push_back(c);
      next = std::min(next, a.next_online(t));
      ASSERT_EQ(m.availability(c).describe(), a.describe());
    }
    ASSERT_EQ(m.online_at(t), want) << "at " << t;
    ASSERT_EQ(m.next_online(t), next) << "at " << t;
    ++checked;
  }
  std::printf("%lld moments: online clients and next online moment equal the rows' (exact)\n",
              static_cast<long long>(checked));
  // Without the column, or with `always` everywhere, every client is always online.
  const SystemModel plain = SystemModel::parse(
      "trace:" + write_trace("class,clients,compute,up_mbps,down_mbps,latency_s\nall,*,1,5,20,0.1\n"), 4, 1);
  EXPECT_FALSE(plain.has_windows());
  EXPECT_EQ(plain.online_at(5).size(), 4u);
  const SystemModel always = SystemModel::parse(
      "trace:" + write_trace("class,clients,compute,up_mbps,down_mbps,latency_s,available\nall,*,1,5,20,0.1,always\n"), 4, 1);
  EXPECT_FALSE(always.has_windows());
  EXPECT_EQ(always.next_online(7), 7);
}

TEST(SystemModelAvailability, MalformedAvailabilityColumnsNameTheLine) {
  const std::string header7 = "class,clients,compute,up_mbps,down_mbps,latency_s,available\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {header7 + "a,*,1,5,20,0.1\n", ":2: 6 fields; need 7"},
      {"class,clients,compute,up_mbps,down_mbps,latency_s\na,*,1,5,20,0.1,always\n", ":2: 7 fields; need 6"},
      {header7 + "a,0-1,1,5,20,0.1,always\nb,*,1,5,20,0.1,3-1@5\n", ":3: availability window '3-1' is empty"},
      {"class,clients,compute,up_mbps,down_mbps,latency_s,avail\n", ":1: the first line must be the header"},
  };
  for (const auto& [text, want] : bad) {
    const std::string e = error_of([&] { SystemModel::parse("trace:" + write_trace(text), 4, 1); });
    EXPECT_NE(e.find(want), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace flb::sim
