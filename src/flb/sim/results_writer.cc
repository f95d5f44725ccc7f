#include "flb/sim/results_writer.h"

#include <torch/types.h>

#include "flb/core/build_info.h"
#include "flb/core/error.h"

namespace flb::sim {
namespace {

// Root attributes written when a run finishes; their presence tells
// scripts that a run is complete.
const char* const kEndAttributes[] = {"completed_rounds", "mpi_gatherv_bytes_sent_all_ranks", "mpi_bcast_bytes",
                                      "memory_per_client_bytes", "rss_max_bytes"};

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const auto& item : items) s += (s.empty() ? "" : ",") + item;
  return s;
}

}  // namespace

std::unique_ptr<ResultsWriter> ResultsWriter::create(const std::string& path, MPI_Comm comm, bool overwrite) {
  std::unique_ptr<ResultsWriter> w(new ResultsWriter(std::make_unique<metrics::ResultsFile>(path, comm, overwrite)));
  return w;
}

std::unique_ptr<ResultsWriter> ResultsWriter::reopen(const std::string& path, MPI_Comm comm,
                                                     const std::vector<std::pair<std::string, int64_t>>& rows,
                                                     const std::string& config_toml) {
  std::unique_ptr<ResultsWriter> w(
      new ResultsWriter(std::make_unique<metrics::ResultsFile>(path, comm, metrics::ResultsFile::Append{})));
  const auto rows_of = [&](const std::string& table) {
    for (const auto& [name, n] : rows)
      if (name == table) return n;
    throw Error("checkpoint manifest: no row count for table /" + table);
  };
  w->rounds_ = &w->file_->open_table("rounds", round_columns(), rows_of("rounds"));
  w->clients_ = &w->file_->open_table("clients", client_columns(), rows_of("clients"));
  w->eval_ = &w->file_->open_table("eval", eval_columns(), rows_of("eval"));
  w->diagnostics_ = &w->file_->open_table("server_diagnostics", diagnostic_columns(), rows_of("server_diagnostics"));
  w->client_evals_ = &w->file_->open_table("client_eval", client_eval_columns(), rows_of("client_eval"));
  for (const char* name : kEndAttributes) w->file_->remove_attribute(name);
  w->file_->remove("final_model");
  w->file_->remove("memory");  // written at the end, with the end attributes
  w->file_->set_attribute("config_toml", config_toml);
  w->file_->flush();
  return w;
}

void ResultsWriter::write_start(const StartAttributes& a) {
  const BuildInfo& build = build_info();
  metrics::ResultsFile& f = *file_;
  f.set_attribute("schema_version", kSchemaVersion);
  f.set_attribute("flbench_version", build.version);
  f.set_attribute("git_revision", build.git_revision);
  f.set_attribute("config_toml", a.config_toml);
  f.set_attribute("command_line", a.command_line);
  f.set_attribute("algorithm", a.algorithm);
  f.set_attribute("mpi_size", a.mpi_size);
  f.set_attribute("hostnames", joined(a.hostnames));
  f.set_attribute("torch_version", build.torch_version);
  f.set_attribute("mpi_version", a.mpi_version);
  f.set_attribute("hdf5_version", metrics::hdf5_version());
  f.set_attribute("device", a.device);
  f.set_attribute("threads_per_rank", a.threads_per_rank);
  f.set_attribute("seed", a.seed);
  f.set_attribute("start_time", a.start_time);
  rounds_ = &f.add_table("rounds", round_columns());
  clients_ = &f.add_table("clients", client_columns());
  eval_ = &f.add_table("eval", eval_columns());
  diagnostics_ = &f.add_table("server_diagnostics", diagnostic_columns());
  client_evals_ = &f.add_table("client_eval", client_eval_columns());
  f.set_group_attribute("eval", "domain_names", joined(a.eval_domains));
  f.flush();
}

void ResultsWriter::write_details(const RoundDetails& d) {
  clients_->append(to_rows(d.clients));
  eval_->append(to_rows(d.evals));
  diagnostics_->append(to_rows(d.diagnostics));
  client_evals_->append(to_rows(d.client_evals));
}

void ResultsWriter::write_round(const RoundRow* row) {
  rounds_->append(to_rows(row ? std::vector<RoundRow>{*row} : std::vector<RoundRow>{}));
  file_->flush();
}

std::vector<std::pair<std::string, int64_t>> ResultsWriter::table_rows() const {
  return {{"rounds", rounds_->rows()},
          {"clients", clients_->rows()},
          {"eval", eval_->rows()},
          {"server_diagnostics", diagnostics_->rows()},
          {"client_eval", client_evals_->rows()}};
}

void ResultsWriter::write_final_model(torch::nn::Module& model) {
  for (const auto& item : model.named_parameters()) {
    const torch::Tensor host = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    file_->write_array("final_model/" + item.key(), host.sizes().vec(), host.data_ptr<float>());
  }
}

void ResultsWriter::write_memory(const MemoryRow& mine) {
  file_->add_table("memory", memory_columns()).append(to_rows(std::vector<MemoryRow>{mine}));
}

void ResultsWriter::write_end(const EndAttributes& a) {
  file_->set_attribute("mpi_gatherv_bytes_sent_all_ranks", a.gatherv_bytes_sent_all_ranks);
  file_->set_attribute("mpi_bcast_bytes", a.bcast_bytes);
  file_->set_attribute("memory_per_client_bytes", a.memory_per_client_bytes);
  file_->set_attribute("rss_max_bytes", a.rss_max_bytes);
  file_->set_attribute("completed_rounds", a.completed_rounds);
  file_->flush();
}

}  // namespace flb::sim
