// Virtual time and honest downloads: what each round would take on the
// clients' modelled systems (sim/system_model.h), from the bytes each
// client really moved; deterministic, the same on every rank and for any
// number of ranks, whatever the wall-clock speed of the machine.
//
// Downloads. A client holds the global state as of the start of the last
// round it took part in (it does not hear the broadcast that ends it; a
// client never sampled holds the initial state, as of round 0). Sampled in
// round t, it first downloads the broadcasts of rounds L .. t-1 it has not
// heard, or the dense current global state, whichever is smaller:
//
//   download_bytes = min(sum_{j=L}^{t-1} bytes_down[j], dense_state_bytes)
//   catch_up_bytes = download_bytes - bytes_down[t-1]   (0 in round 0)
//
// so with every client in every round catch_up_bytes is 0 and each client
// downloads the last broadcast, as flbench counted before.
//
// Time. For client c with system s (latency per transfer):
//
//   down_s    = latency + 8 download_bytes / (1e6 down_mbps)
//   compute_s = steps * step_seconds / compute
//               (--compute-time measured: train_s / compute, train_s the
//               client's local training in wall seconds on this machine:
//               not reproducible, not the same on another machine)
//   up_s      = latency + 8 upload_bytes / (1e6 up_mbps)
//   done_s    = down_s + compute_s + up_s      (from the round's start)
//
// and the round's virtual duration is how long the server waits for them
// (sim/arrivals.h: without dropouts, a deadline or over-selection, the
// largest done_s; its own compute is not modelled). step_seconds (--step-seconds) is a calibration: the seconds
// of one local step on a client of compute factor 1.
#pragma once

#include <cstdint>
#include <vector>

#include "flb/sim/system_model.h"

namespace flb::sim {

struct ClientTimes {
  int64_t download_bytes = 0, catch_up_bytes = 0;
  double down_s = 0, compute_s = 0, up_s = 0, done_s = 0;
};

class VirtualClock {
 public:
  // measured_compute: compute_s from each client's measured train_s.
  VirtualClock(SystemModel systems = {}, double step_seconds = 0, int64_t dense_state_bytes = 0,
               bool measured_compute = false);

  // Round `round`'s times of one sampled client, from what it has heard.
  // Call for each of the round's clients, then finish_round.
  ClientTimes client(int64_t round, int64_t client, int64_t steps, int64_t upload_bytes, double train_s = 0) const;
  // Ends round `round`: its broadcast's bytes, its sampled clients (each
  // downloaded, so now holds the state as of this round's start, even one
  // that then dropped out) and its duration; returns that duration. Rounds end in order.
  double finish_round(int64_t round, int64_t bytes_down, const std::vector<int64_t>& sampled, double duration_s);

  double elapsed_s() const { return elapsed_s_; }  // the virtual clock after the finished rounds
  const SystemModel& systems() const { return systems_; }

  // The ledger, for checkpoints: every round's broadcast bytes, every
  // client's last round, the clock. restore() takes what state() gave.
  struct State {
    std::vector<int64_t> bytes_down;  // one per finished round
    std::vector<int64_t> last_round;  // per client: the start it holds (0: the initial state)
    double elapsed_s = 0;
  };
  State state() const;
  void restore(const State& s);  // throws flb::Error when it does not fit this run

 private:
  void require_next(int64_t round) const;  // throws flb::Error unless `round` is the next to finish

  SystemModel systems_;
  double step_seconds_;
  bool measured_compute_;
  int64_t dense_state_bytes_;
  std::vector<int64_t> prefix_;      // prefix_[j] = sum of bytes_down over rounds < j
  std::vector<int64_t> last_round_;  // per client
  double elapsed_s_ = 0;
};

}  // namespace flb::sim
