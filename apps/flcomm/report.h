// flcomm's outputs: the nccl-tests-style table on stdout (one row per
// configuration and phase, the same columns for every algorithm), and the
// same rows as JSON (--json) and as the HDF5 table /flcomm (--out).
//
// Columns: algorithm, rank (LoRA r), clients (in the round), phase, bytes
// (per round: encode the uploads of all ranks, gather/decode/aggregate the
// gathered bytes, the rest the broadcast), avg/min/max_ms (per round, over
// the ranks that run the phase), GB/s (bytes / avg), GFLOP/s (aggregate:
// the bound's product FLOPs / avg; "-" elsewhere), bound_ms (the phase's
// bound, round_bench.h), ratio (avg / bound), #wrong (round_bench.h; "-"
// where nothing is checked).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flb/comm/mpi_transport.h"
#include "options.h"
#include "round_bench.h"

namespace flb::metrics {
class ResultsFile;
class Table;
}  // namespace flb::metrics

namespace flcomm {

class Report {
 public:
  // Collective. Opens the --json and --out files (an existing one is an
  // flb::Error unless --overwrite) and prints the table's header.
  Report(const Options& o, const Workload& w, flb::comm::MpiTransport& t);
  ~Report();
  // Collective. Prints and records one configuration's rows (rank 0's).
  void add(const ConfigResult& r);
  // Collective. Closes the files; returns the total #wrong (rank 0).
  int64_t finish();

 private:
  const Options& o_;
  flb::comm::MpiTransport& t_;
  std::vector<ConfigResult> rows_;
  std::unique_ptr<flb::metrics::ResultsFile> h5_;
  flb::metrics::Table* table_ = nullptr;
  int64_t wrong_ = 0;
};

}  // namespace flcomm
