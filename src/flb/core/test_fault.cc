#include "flb/core/test_fault.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

#include "flb/core/error.h"
#include "flb/core/hook_value.h"

namespace flb {
namespace {

TestFault g_fault;  // set once before the rounds, read by the main thread only

}  // namespace

TestFault parse_test_fault(const std::string& text) {
  const HookValue hook("FLB_TEST_FAULT", text);
  const std::vector<std::string> fields = hook.fields(4, "RANK:ROUND:PHASE:ACTION");
  TestFault f;
  f.rank = static_cast<int>(hook.count(fields[0], "RANK"));
  f.round = hook.count(fields[1], "ROUND") - 1;
  hook.require(f.round >= 0, "ROUND counts from 1");
  f.phase = hook.choice(fields[2], "PHASE", {"sample", "train", "exchange", "settle", "gather", "aggregate",
                                             "broadcast", "evaluate", "write", "checkpoint"});
  f.action = hook.choice(fields[3], "ACTION", {"throw", "hang", "die"});
  return f;
}

void arm_test_fault_from_env() {
  const char* v = std::getenv("FLB_TEST_FAULT");
  g_fault = v && *v ? parse_test_fault(v) : TestFault{};
}

void fire_test_fault_if_due(int rank, int64_t round, const char* phase) {
  if (g_fault.rank != rank || g_fault.round != round || g_fault.phase != phase) return;
  if (g_fault.action == "throw") throw Error("injected fault (FLB_TEST_FAULT)");
  if (g_fault.action == "die") std::raise(SIGKILL);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));  // hang
}

}  // namespace flb
