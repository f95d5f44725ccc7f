// A test hook: makes one rank fail at a chosen round and phase, so the
// tests can show what a job does when a rank throws, hangs or dies
// (tests/e2e/test_failures.py).
//
// Armed from the environment variable FLB_TEST_FAULT=RANK:ROUND:PHASE:ACTION
// (ROUND counted from 1, as the progress line does; PHASE a name
// note_phase() uses, core/watchdog.h; ACTION one of
//   throw  throw an flb::Error on that rank alone,
//   hang   sleep forever (a rank that stopped answering),
//   die    kill the process with SIGKILL (a rank that crashed)).
// Unset, nothing happens. A malformed value is an error, so a test cannot
// pass because its fault silently never fired.
#pragma once

#include <cstdint>
#include <string>

namespace flb {

struct TestFault {
  int rank = -1;  // -1: none
  int64_t round = 0;  // 0-based
  std::string phase;
  std::string action;
};

// Parses "RANK:ROUND:PHASE:ACTION"; throws flb::Error naming the variable
// and what is wrong.
TestFault parse_test_fault(const std::string& text);

// Reads FLB_TEST_FAULT (throws as parse_test_fault does) and arms it.
void arm_test_fault_from_env();

// Acts when (rank, round, phase) is the armed fault's; called by note_phase.
void fire_test_fault_if_due(int rank, int64_t round, const char* phase);

}  // namespace flb
