// Checkpoints: everything a run needs to continue bitwise-identically
// (--checkpoint-every, SIGTERM/SIGUSR1, --resume).
//
// Next to the results file <out>, a directory <out>.ckpt holds:
//   manifest.txt     completed rounds, MPI size, config hash, rows of every
//                    HDF5 table, run totals; written last, by rank 0
//   config.toml      the config the hash covers (to name what differs)
//   model.pt         rank 0: the global tensors and every model parameter
//                    and buffer (FedLoRU's merges change the frozen W),
//                    and the virtual clock's ledger
//   rank-00000.pt    each rank: its Algorithm::save_state (its clients'
//                    state; on rank 0 also the server state)
// Random streams need nothing: every one is keyed by (seed, purpose,
// client, round) and LibTorch's generator is reseeded per client.
//
// A checkpoint is written into <out>.ckpt.tmp; after a barrier rank 0
// swaps it in with renames (.ckpt -> .ckpt.old, .ckpt.tmp -> .ckpt, then
// removes .ckpt.old), so a kill at any moment leaves a complete .ckpt or
// .ckpt.old; --resume takes .ckpt, else .ckpt.old.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/comm/transport.h"
#include "flb/sim/virtual_clock.h"

namespace flb::sim {

// Sums and maxima over all rounds and all attempts of a run, for the
// summary line and the end-of-run HDF5 attributes (identical on all ranks).
struct RunTotals {
  int64_t bytes_up = 0;         // sum of /rounds/bytes_gathered (manifest key "bytes_up")
  int64_t bytes_down = 0;       // sum of /rounds/bytes_down
  int64_t gather_sent_all = 0;  // bytes all ranks handed to MPI_Gatherv
  int64_t bcast_bytes = 0;      // payload bytes of all broadcasts
  int64_t rss_max = 0;          // peak resident memory of the largest rank
  double seconds = 0;           // wall time of the rounds
};

struct Manifest {
  int64_t completed_rounds = 0;
  int64_t mpi_size = 0;
  std::string config_hash;
  std::vector<std::pair<std::string, int64_t>> table_rows;  // HDF5 table -> rows after completed_rounds
  RunTotals totals;

  std::string to_text() const;
  // Throws flb::Error naming `where` when the text is not a manifest.
  static Manifest parse(const std::string& text, const std::string& where);
  // Rows of `table`; throws flb::Error when the manifest lacks it.
  int64_t rows(const std::string& table) const;
};

// The effective config (TOML, one `key=value` a line) without the options
// a resume may change: rounds, resume, checkpoint-every, out, overwrite.
std::string resumable_config(const std::string& config_toml);
// 16 hex digits (FNV-1a 64) of resumable_config's text.
std::string config_hash(const std::string& resumable);

// The state a checkpoint saves besides the manifest.
struct RunState {
  algo::Tensors& global;
  torch::nn::Module& model;
  algo::Algorithm& algorithm;
  VirtualClock& clock;  // rank 0's is saved (in model.pt); every rank loads it
};

// Collective. Writes the checkpoint of `out` and swaps it in. Throws
// flb::CollectiveError on every rank when a rank fails.
void write_checkpoint(comm::Transport& comm, const std::string& out, const Manifest& manifest, const std::string& resumable,
                      const RunState& state);

// Collective. Finds the checkpoint of `out` (.ckpt, else .ckpt.old) and
// checks that it was written with this MPI size and config (`resumable`);
// false when there is none. Throws flb::CollectiveError on a mismatch.
bool find_checkpoint(comm::Transport& comm, const std::string& out, const std::string& resumable, Manifest* manifest,
                     std::string* dir);

// Collective. Loads the checkpoint in `dir` into `state` (tensors on `device`).
void load_checkpoint(comm::Transport& comm, const std::string& dir, torch::Device device, const RunState& state);

}  // namespace flb::sim
