// Where this rank is in the run, and a watchdog that ends the job when a
// round never finishes.
//
// The round loop says where it is: note_round() when a round starts,
// note_phase() at each of its steps, note_idle() after the last.
// position() names it for error messages ("round 3, phase gather").
//
// A RoundWatchdog with a timeout watches, from a thread of its own, that
// every round (its checkpoint included) ends within the timeout. When one
// does not (a collective that never completes because a rank died or hung,
// or a rank stuck in a loop) it prints one line to stderr naming the rank,
// the round and the phase, and ends the process with exit status 1. It
// cannot call MPI (MPI is initialised for one thread, and the main thread
// is blocked inside it), so the launcher (mpirun, srun) ends the other
// ranks when this one exits. The results file keeps every completed
// round: rank 0 flushes each as it writes it (sim/results_writer.h).
//
// Rank 0 fires at the timeout, the other ranks a grace period later, so
// that a job stuck in a collective prints one message, rank 0's.
//
// note_phase() is also where a test can make a chosen rank fail
// (core/test_fault.h).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace flb {

void note_rank(int rank);
void note_round(int64_t round);      // round starts; its phase is "sample"
void note_phase(const char* phase);  // a string literal: it is kept, not copied
void note_idle();                    // no round running (after the last; not timed)

// "round R, phase P" (R as the progress line counts, from 1), or "" before
// the first round.
std::string position();

class RoundWatchdog {
 public:
  // timeout_s <= 0: no watchdog (nothing is started).
  RoundWatchdog(double timeout_s, int rank);
  ~RoundWatchdog();
  RoundWatchdog(const RoundWatchdog&) = delete;
  RoundWatchdog& operator=(const RoundWatchdog&) = delete;

  // The extra seconds a rank other than 0 waits before it fires.
  static double grace_s(double timeout_s);

 private:
  void watch();

  double limit_s_ = 0;  // this rank's: the timeout, plus the grace off rank 0
  double timeout_s_ = 0;
  int rank_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace flb
