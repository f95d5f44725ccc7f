// A federated experiment: setup, resume, the round loop, checkpoints, the
// results file.
//
// run_experiment() is collective over `transport`: every rank calls it with
// the same config. It throws flb::CollectiveError when all ranks stop
// together (bad config, missing data, a rejected upload under
// --on-bad-upload stop); then rank 0's error carries the message (other
// ranks' errors are not meant to be printed; sim/collectively.h). Other
// exceptions mean one rank alone failed: the results file is then left
// as last flushed, not closed (closing is collective, and the other ranks
// will never join), and the caller is expected to end the job
// (MPI_Abort). Before round 1 a memory preflight refuses, with a
// CollectiveError, a run that would not fit (sim/memory_preflight.h;
// config.skip_memory_check skips it). The round loop reports where it is
// (core/watchdog.h) for error messages and the round watchdog.
//
// The rounds talk only through `transport` (comm/transport.h). The results
// file is written with parallel HDF5, which needs an MPI communicator of
// its own: `results_comm`, over the same ranks in the same order (for
// comm::MpiTransport, its handle()).
//
// With config.resume it continues the run from the checkpoint next to
// config.out and appends to that file (sim/checkpoint.h). When any rank got
// SIGTERM or SIGUSR1 (core/stop_signal.h; install the handlers first), every
// rank finishes the round, checkpoints and returns with `checkpointed` set.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <string>

#include "flb/comm/transport.h"
#include "flb/core/config.h"

namespace flb::sim {

struct RunInfo {
  std::string command_line;  // as typed, for the HDF5 attributes
  std::string config_toml;   // the full effective config
};

struct RunSummary {
  int64_t rounds = 0;          // rounds completed, earlier attempts included
  bool checkpointed = false;   // stopped on a signal after checkpointing `rounds`
  bool already_finished = false;  // --resume of a finished run: nothing done
  double test_loss = 0;
  double test_accuracy = 0;
  double seconds = 0;
  uint64_t bytes_up = 0;    // all rounds: sum of /rounds/bytes_gathered
  uint64_t bytes_down = 0;  // all rounds, one broadcast copy each
};

RunSummary run_experiment(const RunConfig& config, const RunInfo& info, comm::Transport& transport,
                          MPI_Comm results_comm);

}  // namespace flb::sim
