// The results file of a run (results/README.md is its schema): root
// attributes at the start, the /rounds, /clients, /eval,
// /server_diagnostics and /client_eval tables every round (as the
// round's RowSink), and at the end /final_model and the end
// attributes whose presence says the run finished.
//
// Parallel HDF5 writes it, so it needs an MPI communicator: the one the
// engine is given next to its transport (sim/experiment.h). Every method
// is collective over that communicator; throws flb::Error on a rank where
// HDF5 fails (wrap creation in sim::collectively).
#pragma once

#include <mpi.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "flb/metrics/results_file.h"
#include "flb/sim/results_schema.h"

namespace flb::sim {

// The root attributes of a fresh run (identical on every rank).
struct StartAttributes {
  std::string config_toml, command_line, algorithm;
  int64_t mpi_size = 1;
  std::vector<std::string> hostnames;  // rank order
  std::string mpi_version, device;
  int64_t threads_per_rank = 1;
  int64_t seed = 0;
  std::string start_time;                 // UTC ISO 8601, rank 0's clock
  std::vector<std::string> eval_domains;  // /eval's domain_names
};

// The attributes written when the run finishes.
struct EndAttributes {
  int64_t gatherv_bytes_sent_all_ranks = 0;
  int64_t bcast_bytes = 0;
  int64_t memory_per_client_bytes = 0;
  int64_t rss_max_bytes = 0;
  int64_t completed_rounds = 0;
};

class ResultsWriter final : public RowSink {
 public:
  // Collective. Creates `path` (an existing file is an error unless
  // `overwrite`) with an empty table each.
  static std::unique_ptr<ResultsWriter> create(const std::string& path, MPI_Comm comm, bool overwrite);
  // Collective. Reopens `path` to continue it (--resume): every table cut
  // back to `rows` (the checkpoint's row counts), the end attributes and
  // /final_model removed, config_toml replaced (--rounds may have grown).
  static std::unique_ptr<ResultsWriter> reopen(const std::string& path, MPI_Comm comm,
                                               const std::vector<std::pair<std::string, int64_t>>& rows,
                                               const std::string& config_toml);

  // Collective. The root attributes of a fresh run, and /eval's domain names.
  void write_start(const StartAttributes& a);

  void write_details(const RoundDetails& details) override;
  void write_round(const RoundRow* row) override;

  // Rows of every table so far, for the checkpoint manifest.
  std::vector<std::pair<std::string, int64_t>> table_rows() const;

  // Collective. /final_model: every parameter of `model` (rank 0's values) as float32.
  void write_final_model(torch::nn::Module& model);
  // Collective. /memory: every rank passes its own row (rows in rank order).
  void write_memory(const MemoryRow& mine);
  // Collective. The end attributes (results/README.md), then a flush.
  void write_end(const EndAttributes& a);
  // This rank failed alone: do not close the file collectively
  // (metrics::ResultsFile::abandon).
  void abandon() { file_->abandon(); }

 private:
  explicit ResultsWriter(std::unique_ptr<metrics::ResultsFile> file) : file_(std::move(file)) {}
  std::unique_ptr<metrics::ResultsFile> file_;
  metrics::Table *rounds_ = nullptr, *clients_ = nullptr, *eval_ = nullptr, *diagnostics_ = nullptr,
                 *client_evals_ = nullptr;
};

}  // namespace flb::sim
