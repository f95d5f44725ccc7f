// sim::SystemModel and sim::VirtualClock against references written here:
// a brute-force ledger (each client's unheard broadcasts summed one by one)
// and the closed-form times of virtual_clock.h; the trace parser against a
// file and every malformed line it must name.
#include "flb/sim/virtual_clock.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "flb/core/error.h"
#include "error_message.h"
#include "flb/core/rng.h"
#include "flb/sim/system_model.h"

namespace flb::sim {
namespace {

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(SystemModel, UniformKeysAndTheirErrors) {
  const SystemModel m = SystemModel::parse("uniform:up=2,latency=0.5", 3, 1);
  ASSERT_EQ(m.size(), 3);
  EXPECT_EQ(m.client(2).up_mbps, 2);
  EXPECT_EQ(m.client(2).down_mbps, 50);  // the default
  EXPECT_EQ(m.client(0).latency_s, 0.5);
  EXPECT_EQ(SystemModel::parse("uniform", 2, 1).client(1).compute, 1);
  EXPECT_NE(error_of([] { SystemModel::parse("uniform:upp=2", 3, 1); }).find("'upp=2' is not KEY=VALUE"), std::string::npos);
  EXPECT_NE(error_of([] { SystemModel::parse("uniform:up=fast", 3, 1); }).find("'fast' is not a number"), std::string::npos);
  EXPECT_NE(error_of([] { SystemModel::parse("uniform:up=0", 3, 1); }).find("up and down must be > 0"), std::string::npos);
  EXPECT_NE(error_of([] { SystemModel::parse("gaussian", 3, 1); }).find("is not uniform"), std::string::npos);
  EXPECT_NE(error_of([] { SystemModel::parse("lognormal:sigma=-1", 3, 1); }).find("sigma"), std::string::npos);
}

TEST(SystemModel, LognormalIsSeededPerClientWithTheGivenMedian) {
  const int64_t n = 4000;
  const SystemModel a = SystemModel::parse("lognormal:up=8,sigma=0.7", n, 5), b = SystemModel::parse("lognormal:up=8,sigma=0.7", n, 5);
  const SystemModel other = SystemModel::parse("lognormal:up=8,sigma=0.7", n, 6);
  std::vector<double> log_up;
  for (int64_t c = 0; c < n; ++c) {
    ASSERT_EQ(a.client(c).up_mbps, b.client(c).up_mbps);  // the same seed, the same draw
    log_up.push_back(std::log(a.client(c).up_mbps));
  }
  EXPECT_NE(a.client(0).up_mbps, other.client(0).up_mbps);
  EXPECT_NE(a.client(0).up_mbps, a.client(1).up_mbps);
  double mean = 0, var = 0;
  for (double v : log_up) mean += v / n;
  for (double v : log_up) var += (v - mean) * (v - mean) / (n - 1);
  // log(up) ~ N(log 8, 0.7^2): its sample mean within 4 standard errors.
  const double se = 0.7 / std::sqrt(double(n));
  std::printf("lognormal up: mean log %.4f (want %.4f +- %.4f), sd %.4f (want 0.7)\n", mean, std::log(8.0), 4 * se, std::sqrt(var));
  EXPECT_NEAR(mean, std::log(8.0), 4 * se);
  EXPECT_NEAR(std::sqrt(var), 0.7, 0.03);
}

TEST(SystemModel, TraceRowsRangesAndTheRest) {
  const std::string path = write_file("trace.csv",
                                      "# a comment\n"
                                      "class,clients,compute,up_mbps,down_mbps,latency_s\n"
                                      "phone,0-2,0.25,5,20,0.08\n"
                                      "\n"
                                      "laptop,4,1,20,100,0.02\n"
                                      "rest,*,4,100,1000,0.005\n");
  const SystemModel m = SystemModel::parse("trace:" + path, 6, 1);
  EXPECT_EQ(m.client(1).compute, 0.25);
  EXPECT_EQ(m.client(2).down_mbps, 20);
  EXPECT_EQ(m.client(3).up_mbps, 100);  // '*'
  EXPECT_EQ(m.client(4).latency_s, 0.02);
  EXPECT_EQ(m.client(5).compute, 4);
}

TEST(SystemModel, MalformedTracesNameTheFileLineAndField) {
  const std::string header = "class,clients,compute,up_mbps,down_mbps,latency_s\n";
  const struct {
    const char* text;
    const char* needle;
  } cases[] = {
      {"clients,compute\n", ":1: the first line must be the header"},
      {"", "no header line"},
      {"x,0-1,1,5,5,0\ny,1,1,5,5,0\n", ":3: client 1 is in an earlier row too"},
      {"x,0-1,1,5,5,0\n", "client 2 is in no row"},
      {"x,0-9,1,5,5,0\n", ":2: client id 9 is not in [0, 4)"},
      {"x,*,1,5,5\n", ":2: 5 fields; need 6"},
      {"x,*,1,five,5,0\n", ":2: up_mbps: 'five' is not a number"},
      {"x,*,0,5,5,0\n", ":2: compute must be > 0"},
      {"x,*,1,5,5,0\ny,*,1,5,5,0\n", ":3: a second '*' row"},
      {"x,3-1,1,5,5,0\n", ":2: the range 3-1 is empty"},
  };
  int i = 0;
  for (const auto& k : cases) {
    const std::string text = std::string(k.text).rfind("clients,", 0) == 0 || *k.text == 0 ? k.text : header + k.text;
    const std::string path = write_file("bad-" + std::to_string(i++) + ".csv", text);
    const std::string e = error_of([&] { SystemModel::parse("trace:" + path, 4, 1); });
    EXPECT_NE(e.find(k.needle), std::string::npos) << "wanted '" << k.needle << "', got '" << e << "'";
  }
  EXPECT_NE(error_of([] { SystemModel::parse("trace:/nonexistent.csv", 4, 1); }).find("cannot open"), std::string::npos);
}

// The ledger by brute force: which round's start each client holds, and the
// sum of the broadcasts from there to the round before, one by one.
struct BruteLedger {
  std::vector<int64_t> holds;       // per client
  std::vector<int64_t> bytes_down;  // per finished round
  int64_t download(int64_t round, int64_t client, int64_t dense) const {
    int64_t missed = 0;
    for (int64_t j = holds[size_t(client)]; j < round; ++j) missed += bytes_down[size_t(j)];
    return std::min(missed, dense);
  }
};

TEST(VirtualClock, DownloadsAndTimesEqualTheBruteForceLedgerAndTheClosedForm) {
  const int64_t clients = 9, rounds = 12, dense = 5000;
  const SystemModel systems = SystemModel::parse("lognormal:up=4,down=20,latency=0.03", clients, 3);
  VirtualClock clock(systems, 0.2, dense);
  BruteLedger ref{std::vector<int64_t>(clients, 0), {}};
  Stream st(11, StreamPurpose::kTest);
  double elapsed = 0, worst = 0;
  int64_t catch_ups = 0, capped = 0;
  for (int64_t t = 0; t < rounds; ++t) {
    std::vector<int64_t> sampled;
    for (int64_t c = 0; c < clients; ++c)
      if (st.uniform() < 0.4) sampled.push_back(c);
    const int64_t bytes_down = 300 + static_cast<int64_t>(2000 * st.uniform());
    double duration = 0;
    for (int64_t c : sampled) {
      const int64_t steps = 1 + static_cast<int64_t>(5 * st.uniform()), up = 100 + static_cast<int64_t>(900 * st.uniform());
      const ClientTimes got = clock.client(t, c, steps, up);
      const int64_t want = ref.download(t, c, dense);
      ASSERT_EQ(got.download_bytes, want) << "round " << t << " client " << c;
      const int64_t last = t > 0 ? ref.bytes_down[size_t(t - 1)] : 0;
      ASSERT_EQ(got.catch_up_bytes, std::max<int64_t>(0, want - last));
      catch_ups += got.catch_up_bytes > 0;
      capped += want == dense;
      const ClientSystem& s = systems.client(c);
      const double down = s.latency_s + 8.0 * double(want) / (1e6 * s.down_mbps);
      const double compute = double(steps) * 0.2 / s.compute;
      const double upload = s.latency_s + 8.0 * double(up) / (1e6 * s.up_mbps);
      worst = std::max({worst, std::abs(got.down_s - down) / down, std::abs(got.compute_s - compute) / compute,
                        std::abs(got.up_s - upload) / upload,
                        std::abs(got.done_s - (down + compute + upload)) / (down + compute + upload)});
      duration = std::max(duration, got.done_s);
    }
    EXPECT_EQ(clock.finish_round(t, bytes_down, sampled, duration), duration);
    elapsed += duration;
    EXPECT_DOUBLE_EQ(clock.elapsed_s(), elapsed);
    ref.bytes_down.push_back(bytes_down);
    for (int64_t c : sampled) ref.holds[size_t(c)] = t;
  }
  std::printf("virtual clock: %lld catch-ups, %lld capped at the dense state; times' max relative difference from "
              "the closed form %.2e (tolerance 1e-15)\n", static_cast<long long>(catch_ups), static_cast<long long>(capped), worst);
  EXPECT_GT(catch_ups, 0);
  EXPECT_GT(capped, 0);
  EXPECT_LT(worst, 1e-15);
}

TEST(VirtualClock, MeasuredComputeIsTheTrainingTimeOverTheComputeFactor) {
  const SystemModel systems = SystemModel::from({{1.0, 8, 8, 0}, {4.0, 8, 8, 0}});
  const VirtualClock measured(systems, 0.5, 1000, /*measured_compute=*/true), calibrated(systems, 0.5, 1000);
  for (int64_t c : {0, 1}) {
    const double factor = systems.client(c).compute;
    EXPECT_EQ(measured.client(0, c, 10, 0, 2.5).compute_s, 2.5 / factor);  // train_s, not the 10 steps
    EXPECT_EQ(calibrated.client(0, c, 10, 0, 2.5).compute_s, 10 * 0.5 / factor);
  }
}

TEST(VirtualClock, StateRestoresTheLedgerAndRoundsEndInOrder) {
  const SystemModel systems(4);
  VirtualClock a(systems, 0.1, 10000), b(systems, 0.1, 10000);
  a.finish_round(0, 700, {0, 2}, 1.5);
  a.finish_round(1, 300, {1}, 2.0);
  b.restore(a.state());
  EXPECT_EQ(b.elapsed_s(), 3.5);
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_EQ(b.client(2, c, 1, 10).download_bytes, a.client(2, c, 1, 10).download_bytes);
  }
  EXPECT_EQ(a.client(2, 3, 1, 10).download_bytes, 1000);  // never sampled: both broadcasts
  EXPECT_EQ(a.client(2, 1, 1, 10).download_bytes, 300);   // took part in round 1
  EXPECT_EQ(a.client(2, 0, 1, 10).catch_up_bytes, 700);   // holds round 0's start
  EXPECT_THROW(a.client(5, 0, 1, 10), Error);
  EXPECT_THROW(a.finish_round(3, 1, {}, 0), Error);
  VirtualClock::State wrong = a.state();
  wrong.last_round.pop_back();
  EXPECT_THROW(b.restore(wrong), Error);
}

}  // namespace
}  // namespace flb::sim
