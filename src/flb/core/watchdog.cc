#include "flb/core/watchdog.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "flb/core/test_fault.h"

namespace flb {
namespace {

// Written by the main thread, read by the watchdog's: atomics, no lock.
std::atomic<int> g_rank{0};
std::atomic<int64_t> g_round{-1};  // -1: no round running
std::atomic<const char*> g_phase{""};
std::atomic<int64_t> g_round_start_ns{0};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string describe(int64_t round, const char* phase) {
  if (round < 0) return "";
  return "round " + std::to_string(round + 1) + ", phase " + phase;
}

}  // namespace

void note_rank(int rank) { g_rank = rank; }

void note_round(int64_t round) {
  g_round_start_ns = now_ns();
  g_phase = "sample";
  g_round = round;
  fire_test_fault_if_due(g_rank, round, "sample");
}

void note_phase(const char* phase) {
  g_phase = phase;
  fire_test_fault_if_due(g_rank, g_round, phase);
}

void note_idle() { g_round = -1; }

std::string position() { return describe(g_round, g_phase); }

double RoundWatchdog::grace_s(double timeout_s) { return std::max(5.0, 0.1 * timeout_s); }

RoundWatchdog::RoundWatchdog(double timeout_s, int rank) : timeout_s_(timeout_s), rank_(rank) {
  note_rank(rank);
  if (timeout_s <= 0) return;
  limit_s_ = timeout_s + (rank == 0 ? 0.0 : grace_s(timeout_s));
  thread_ = std::thread([this] { watch(); });
}

RoundWatchdog::~RoundWatchdog() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

// Checks ten times per timeout (at most every second) whether the running
// round has outlived this rank's limit.
void RoundWatchdog::watch() {
  const auto tick = std::chrono::duration<double>(std::min(1.0, timeout_s_ / 10));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, tick, [this] { return stopping_; })) {
    const int64_t round = g_round;
    if (round < 0) continue;
    const double running_s = 1e-9 * static_cast<double>(now_ns() - g_round_start_ns);
    if (running_s < limit_s_ || round != g_round) continue;
    std::fprintf(stderr,
                 "flbench: rank %d: error: %s did not finish within --round-timeout %g s (running %.1f s): a rank "
                 "died, hung or is far slower than the others; the results file keeps every completed round. "
                 "Raise --round-timeout if rounds legitimately take longer.\n",
                 rank_, describe(round, g_phase).c_str(), timeout_s_, running_s);
    std::fflush(stderr);
    std::_Exit(1);
  }
}

}  // namespace flb
