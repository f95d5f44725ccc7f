// core/watchdog.h and core/test_fault.h: the position an error message
// names, the watchdog that ends a process whose round outlives its timeout
// (a death test: the child's exit status and message), one that leaves
// rounds shorter than the timeout alone, and the test hook's parser.
#include "flb/core/watchdog.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "flb/core/error.h"
#include "flb/core/test_fault.h"

namespace flb {
namespace {

void sleep_s(double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); }

TEST(Watchdog, PositionNamesTheRoundFromOneAndThePhase) {
  note_idle();
  EXPECT_EQ(position(), "");
  note_round(2);
  EXPECT_EQ(position(), "round 3, phase sample");
  note_phase("gather");
  EXPECT_EQ(position(), "round 3, phase gather");
  note_idle();
  EXPECT_EQ(position(), "");
}

TEST(Watchdog, EndsTheProcessWithOneMessageWhenARoundOutlivesTheTimeout) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        RoundWatchdog watchdog(0.3, 0);
        note_round(4);
        note_phase("gather");
        sleep_s(20);  // the watchdog must end this well before
        std::exit(0);
      },
      testing::ExitedWithCode(1),
      "flbench: rank 0: error: round 5, phase gather did not finish within --round-timeout 0.3 s \\(running 0\\.[3-9]");
}

TEST(Watchdog, LeavesRoundsShorterThanTheTimeoutAlone) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // Six rounds of 0.1 s under a 0.4 s timeout (0.6 s in all), then idle for
  // longer than the timeout: nothing fires, and the watchdog stops cleanly.
  EXPECT_EXIT(
      {
        {
          RoundWatchdog watchdog(0.4, 0);
          for (int r = 0; r < 6; ++r) {
            note_round(r);
            sleep_s(0.1);
          }
          note_idle();
          sleep_s(0.6);
        }
        std::exit(7);
      },
      testing::ExitedWithCode(7), "");
}

TEST(Watchdog, RanksOtherThanZeroWaitAGracePeriodLonger) {
  EXPECT_EQ(RoundWatchdog::grace_s(4), 5.0);     // at least 5 s
  EXPECT_EQ(RoundWatchdog::grace_s(600), 60.0);  // a tenth of long timeouts
}

TEST(TestFault, ParsesRankRoundPhaseAction) {
  const TestFault f = parse_test_fault("3:7:gather:hang");
  EXPECT_EQ(f.rank, 3);
  EXPECT_EQ(f.round, 6);  // 0-based
  EXPECT_EQ(f.phase, "gather");
  EXPECT_EQ(f.action, "hang");
}

TEST(TestFault, RejectsMalformedValuesNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"1:3", "RANK:ROUND:PHASE:ACTION (4 fields)"},
      {"1:3:train:throw:x", "(4 fields)"},
      {"a:3:train:throw", "RANK 'a' is not a non-negative integer"},
      {"-1:3:train:throw", "RANK '-1'"},
      {"1:0:train:throw", "ROUND counts from 1"},
      {"1:2x:train:throw", "ROUND '2x'"},
      {"1:3:trian:throw", "PHASE 'trian' is not one of sample, train"},
      {"1:3:train:explode", "ACTION 'explode' is not one of throw, hang, die"},
  };
  for (const auto& [text, message] : cases) {
    try {
      parse_test_fault(text);
      ADD_FAILURE() << text << ": accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << text << ": " << e.what();
    }
  }
}

TEST(TestFault, ThrowsOnlyAtTheArmedRankRoundAndPhase) {
  setenv("FLB_TEST_FAULT", "1:2:train:throw", 1);
  arm_test_fault_from_env();
  EXPECT_NO_THROW(fire_test_fault_if_due(0, 1, "train"));  // another rank
  EXPECT_NO_THROW(fire_test_fault_if_due(1, 0, "train"));  // another round
  EXPECT_NO_THROW(fire_test_fault_if_due(1, 1, "gather"));  // another phase
  EXPECT_THROW(fire_test_fault_if_due(1, 1, "train"), Error);
  unsetenv("FLB_TEST_FAULT");
  arm_test_fault_from_env();
  EXPECT_NO_THROW(fire_test_fault_if_due(1, 1, "train"));
}

}  // namespace
}  // namespace flb
