#include "flb/core/test_fault.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "flb/core/error.h"

namespace flb {
namespace {

TestFault g_fault;  // set once before the rounds, read by the main thread only

const char* const kPhases[] = {"sample", "train", "exchange", "settle", "gather", "aggregate",
                               "broadcast", "evaluate", "write", "checkpoint"};

int64_t parse_count(const std::string& field, const char* what, const std::string& text) {
  char* end = nullptr;
  const long long v = std::strtoll(field.c_str(), &end, 10);
  require(!field.empty() && *end == '\0' && v >= 0,
          "FLB_TEST_FAULT=" + text + ": " + what + " '" + field + "' is not a non-negative integer");
  return v;
}

}  // namespace

TestFault parse_test_fault(const std::string& text) {
  std::string fields[4];
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= text.size(); ++i)
    if (i == text.size() || text[i] == ':') {
      require(n < 4, "FLB_TEST_FAULT=" + text + ": expected RANK:ROUND:PHASE:ACTION (four fields)");
      fields[n++] = text.substr(start, i - start);
      start = i + 1;
    }
  require(n == 4, "FLB_TEST_FAULT=" + text + ": expected RANK:ROUND:PHASE:ACTION (four fields)");
  TestFault f;
  f.rank = static_cast<int>(parse_count(fields[0], "RANK", text));
  const int64_t round = parse_count(fields[1], "ROUND", text);
  require(round >= 1, "FLB_TEST_FAULT=" + text + ": ROUND counts from 1");
  f.round = round - 1;
  f.phase = fields[2];
  bool known = false;
  std::string phases;
  for (const char* p : kPhases) {
    known = known || f.phase == p;
    phases += std::string(phases.empty() ? "" : ", ") + p;
  }
  require(known, "FLB_TEST_FAULT=" + text + ": PHASE '" + f.phase + "' is not one of " + phases);
  f.action = fields[3];
  require(f.action == "throw" || f.action == "hang" || f.action == "die",
          "FLB_TEST_FAULT=" + text + ": ACTION '" + f.action + "' is not throw, hang or die");
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
