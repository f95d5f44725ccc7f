#include "flb/sim/experiment.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <memory>

#include "flb/compress/wire_format.h"
#include "flb/core/collective_error.h"
#include "flb/core/stop_signal.h"
#include "flb/core/timer.h"
#include "flb/core/watchdog.h"
#include "flb/hf/peft_export.h"
#include "flb/metrics/progress.h"
#include "flb/sim/arrivals.h"
#include "flb/sim/checkpoint.h"
#include "flb/sim/collectively.h"
#include "flb/sim/memory_preflight.h"
#include "flb/sim/placement.h"
#include "flb/sim/results_writer.h"
#include "flb/sim/round.h"
#include "flb/sim/setup.h"

namespace flb::sim {
namespace {

std::string now_iso8601() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// Everything the driver's steps share.
struct Run {
  const RunConfig& config;
  const RunInfo& info;
  comm::Transport& transport;
  MPI_Comm results_comm;
  RunSetup setup;
  std::string resumable;  // the config a checkpoint must match
  Manifest resumed;       // completed_rounds 0 and zero totals for a fresh run
  bool root() const { return transport.rank() == 0; }
  RunState state() { return RunState{setup.global, setup.model(), *setup.algorithm, setup.clock}; }
};

// --resume: loads the checkpoint into the run's state; true (with
// `summary` filled) when --out already finished --rounds rounds.
bool resume(Run& run, RunSummary* summary) {
  const RunConfig& config = run.config;
  std::string finished = "-1";  // completed_rounds of --out, -1 if unfinished
  collectively(run.transport, [&] {
    int64_t n = 0;
    if (run.root() && metrics::read_int_attribute(config.out, "completed_rounds", &n)) finished = std::to_string(n);
  });
  run.transport.bcast_text(finished);
  std::string dir;
  const bool have = find_checkpoint(run.transport, config.out, run.resumable, &run.resumed, &dir);
  if (std::stoll(finished) >= config.rounds) {
    if (run.root())
      std::cout << "flbench: " << config.out << " already finished " << finished
                << " rounds; nothing to do (pass a larger --rounds to continue it)" << std::endl;
    summary->rounds = std::stoll(finished);
    summary->already_finished = true;
    return true;
  }
  if (!have)
    throw CollectiveError("--resume: no checkpoint of " + config.out + " (" + config.out +
                          ".ckpt); drop --resume to start the run afresh (with --overwrite if " + config.out +
                          " exists), and pass --checkpoint-every to checkpoint it");
  if (run.resumed.completed_rounds >= config.rounds)
    throw CollectiveError("--rounds " + std::to_string(config.rounds) + ": the checkpoint " + dir + " already holds " +
                          std::to_string(run.resumed.completed_rounds) + " rounds; pass a larger --rounds");
  load_checkpoint(run.transport, dir, run.setup.device, run.state());
  if (run.root()) std::cout << "flbench: resuming from " << dir << " after round " << run.resumed.completed_rounds << std::endl;
  return false;
}

// Creates the results file with its root attributes, or reopens it (--resume).
std::unique_ptr<ResultsWriter> open_results(Run& run) {
  const RunConfig& config = run.config;
  comm::Transport& t = run.transport;
  const std::vector<std::string> hosts = t.hostnames();
  std::string start_time = now_iso8601();
  t.bcast_text(start_time);  // rank 0's clock for everyone (attributes must match)
  std::unique_ptr<ResultsWriter> results;
  if (config.resume) {
    // Append: drop the rows written after the checkpoint (by a run that died
    // later) and whatever a finished run wrote at its end.
    collectively(t, [&] {
      results = ResultsWriter::reopen(config.out, run.results_comm, run.resumed.table_rows, run.info.config_toml);
    });
    return results;
  }
  collectively(t, [&] { results = ResultsWriter::create(config.out, run.results_comm, config.overwrite); });
  const RunSetup& s = run.setup;
  std::vector<std::string> domain_names;
  for (const auto& d : s.task->eval_domains()) domain_names.push_back(d.name);
  results->write_start({run.info.config_toml, run.info.command_line, s.algorithm->name(), t.size(), hosts,
                        t.describe(), s.device.str(), s.threads, static_cast<int64_t>(config.seed), start_time,
                        domain_names});
  return results;
}

// Totals of all rounds so far (earlier attempts included), given those of
// the completed rounds. Collective.
RunTotals totals_now(comm::Transport& t, RunTotals totals, const Timer& run_clock) {
  for (uint64_t s : t.allgather(t.counters().gather_sent)) totals.gather_sent_all += static_cast<int64_t>(s);
  totals.bcast_bytes += static_cast<int64_t>(t.counters().bcast_bytes);
  totals.rss_max = std::max<int64_t>(totals.rss_max, static_cast<int64_t>(t.max_all(static_cast<uint64_t>(rss_max_bytes()))));
  totals.seconds += run_clock.seconds();
  return totals;
}

void print_progress(const Run& run, const RoundRow& row, const Timer& run_clock) {
  const metrics::Progress p{row.round,         run.config.rounds,       row.train_loss,
                            row.test_loss,     row.test_accuracy,       row.bytes_gathered / 1e6,
                            row.bytes_down / 1e6, row.wall,             run_clock.seconds(),
                            run.resumed.completed_rounds};
  std::cout << metrics::progress_line(p) << std::endl;
}

// Collective. Checkpoints the run after `completed` rounds.
void checkpoint(Run& run, const ResultsWriter& results, int64_t completed, const RunTotals& totals) {
  Timer clock;
  Manifest m;
  m.completed_rounds = completed;
  m.mpi_size = run.transport.size();
  m.config_hash = config_hash(run.resumable);
  m.table_rows = results.table_rows();
  m.totals = totals;
  write_checkpoint(run.transport, run.config.out, m, run.resumable, run.state());
  if (run.root()) {
    std::printf("flbench: checkpoint after round %lld -> %s.ckpt (%.2f s)\n", static_cast<long long>(completed),
                run.config.out.c_str(), clock.seconds());
    std::fflush(stdout);
  }
}

// Rank 0, after the last round, with the global model loaded: the files
// users take to their own tools (--export-adapter, --export-merged).
void write_exports(const Run& run) {
  const ModelConfig& m = run.config.model;
  if (!run.root() || (m.export_adapter.empty() && m.export_merged.empty())) return;
  auto* llama = dynamic_cast<model::Llama*>(&run.setup.model());
  require(llama != nullptr, "--export-adapter/--export-merged: the model is not a Hugging Face Llama");
  if (!m.export_adapter.empty()) {
    hf::write_peft_adapter(m.export_adapter, *llama, {m.base, m.lora_dropout});
    std::printf("flbench: global adapter (PEFT) -> %s\n", m.export_adapter.c_str());
  }
  if (!m.export_merged.empty()) {
    hf::write_merged_llama(m.export_merged, *llama);
    std::printf("flbench: merged model (Hugging Face) -> %s\n", m.export_merged.c_str());
  }
  std::fflush(stdout);
}

int64_t tensor_bytes(const torch::Tensor& t) { return t.numel() * static_cast<int64_t>(t.element_size()); }

// This rank's /memory row: the base counted once (its clients share it).
MemoryRow memory_row(const Run& run, const Round& round) {
  const RunSetup& s = run.setup;
  MemoryRow m;
  m.rank = run.transport.rank();
  for (const auto& p : s.model().parameters()) (p.requires_grad() ? m.adapters : m.base) += tensor_bytes(p);
  m.optimizer = s.trainer->state_bytes() + (s.batched ? s.batched->state_bytes() : 0);
  m.activations = std::max(s.trainer->activation_bytes(), s.batched ? s.batched->activation_bytes() : int64_t{0});
  m.client_state = round.client_state_bytes();
  return m;
}

// Collective: refuses a run whose per-client state and round buffers would
// not fit in memory (sim/memory_preflight.h), unless --skip-memory-check;
// rank 0 prints the estimate.
void preflight_memory(Run& run) {
  const RunConfig& c = run.config;
  if (c.skip_memory_check) return;
  const RunSetup& s = run.setup;
  int64_t values = 0;
  for (const torch::Tensor& t : s.global) values += t.numel();
  RankShape shape;
  shape.hosted_clients = hosted_count(run.transport.rank(), c.clients, run.transport.size());
  shape.sampled_per_round = sampled_count(c.clients_per_round, c.over_select, c.clients);
  shape.rounds_left = c.rounds - run.resumed.completed_rounds;
  shape.trainable_bytes = 4 * values;
  shape.dense_upload_bytes = static_cast<int64_t>(compress::dense_encoded_size(s.global.size(), static_cast<uint64_t>(values)));
  shape.client_state_bound = s.algorithm->client_state_bytes_bound(s.params);
  shape.client_state_held = s.algorithm->client_state_bytes();
  shape.root = run.root();
  shape.hierarchical = c.aggregation == "hierarchical";
  const RankNeed need = estimate_need(shape);
  const std::string summary = check_memory(run.transport, need, read_node_memory());
  if (run.root()) std::cout << "flbench: " << summary << std::endl;
}

// Collective. The final model and the end attributes.
RunSummary finish(Run& run, ResultsWriter& results, const Round& round, const RunTotals& totals, const Timer& run_clock) {
  load_global(run.setup);
  results.write_final_model(run.setup.model());
  const RunTotals end = totals_now(run.transport, totals, run_clock);
  int64_t state_total = 0;
  for (uint64_t s : run.transport.allgather(static_cast<uint64_t>(round.client_state_bytes())))
    state_total += static_cast<int64_t>(s);
  results.write_memory(memory_row(run, round));
  results.write_end({end.gather_sent_all, end.bcast_bytes, state_total / run.config.clients, end.rss_max,
                     run.config.rounds});
  collectively(run.transport, [&] { write_exports(run); });
  RunSummary summary;
  summary.rounds = run.config.rounds;
  summary.test_loss = round.last_test_loss();
  summary.test_accuracy = round.last_test_accuracy();
  summary.seconds = end.seconds;
  summary.bytes_up = static_cast<uint64_t>(end.bytes_up);
  summary.bytes_down = static_cast<uint64_t>(end.bytes_down);
  return summary;
}

// Collective. The rounds from the first not yet done, checkpoints, and the
// end of the run.
RunSummary run_rounds(Run& run, ResultsWriter& results) {
  RunSummary summary;
  Round round(run.config, run.setup, run.transport, results);
  if (run.root())
    std::cout << "flbench: " << run.setup.algorithm->name() << " on " << run.setup.task->describe() << ", "
              << run.config.clients << " clients, " << run.config.clients_per_round << " per round, " << run.config.rounds
              << " rounds, " << run.transport.size() << " rank(s) x " << run.setup.threads << " thread(s) on "
              << run.setup.device.str() << " -> " << run.config.out << std::endl;

  Timer run_clock;
  RunTotals totals = run.resumed.totals;  // as of the rounds completed so far
  for (int64_t r = run.resumed.completed_rounds; r < run.config.rounds; ++r) {
    note_round(r);
    const RoundRow row = round.run(r);
    totals.bytes_up += row.bytes_gathered;
    totals.bytes_down += row.bytes_down;
    if (run.root()) print_progress(run, row, run_clock);
    // Checkpoint every --checkpoint-every rounds, and stop on a signal: all
    // ranks agree whether any of them got one. The last round is not
    // checkpointed: the run is complete, and --resume with a larger
    // --rounds continues from the checkpoint before it, as an
    // uninterrupted longer run would have gone (its evaluations differ).
    const bool last = r + 1 == run.config.rounds;
    const bool stop = run.transport.any(stop_requested()) && !last;
    note_phase("checkpoint");
    if (stop || (run.config.checkpoint_every > 0 && (r + 1) % run.config.checkpoint_every == 0 && !last))
      checkpoint(run, results, r + 1, totals_now(run.transport, totals, run_clock));
    if (stop) {
      summary.checkpointed = true;
      summary.rounds = r + 1;
      summary.seconds = totals.seconds + run_clock.seconds();
      summary.bytes_up = static_cast<uint64_t>(totals.bytes_up);
      summary.bytes_down = static_cast<uint64_t>(totals.bytes_down);
      return summary;
    }
  }
  note_idle();
  return finish(run, results, round, totals, run_clock);
}

}  // namespace

RunSummary run_experiment(const RunConfig& config, const RunInfo& info, comm::Transport& transport,
                          MPI_Comm results_comm) {
  Run run{config, info, transport, results_comm, RunSetup{}, resumable_config(info.config_toml), Manifest{}};
  collectively(transport, [&] { run.setup = make_setup(config, transport.local_rank(), transport.local_size()); });
  RunSummary summary;
  if (config.resume && resume(run, &summary)) return summary;
  preflight_memory(run);  // before the results file exists: a refused run leaves nothing behind
  std::unique_ptr<ResultsWriter> results = open_results(run);
  try {
    return run_rounds(run, *results);
  } catch (const CollectiveError&) {
    throw;  // every rank is here: the file is closed collectively
  } catch (...) {
    results->abandon();  // this rank alone: its peers will never join a collective close
    throw;
  }
}

}  // namespace flb::sim
