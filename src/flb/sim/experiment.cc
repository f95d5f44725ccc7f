#include "flb/sim/experiment.h"

#include <sched.h>
#include <sys/resource.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <limits>
#include <memory>

#include "flb/algo/registry.h"
#include "flb/compress/wire_format.h"
#include "flb/core/build_info.h"
#include "flb/core/collective_error.h"
#include "flb/core/stop_signal.h"
#include "flb/core/timer.h"
#include "flb/metrics/progress.h"
#include "flb/metrics/results_file.h"
#include "flb/sim/checkpoint.h"
#include "flb/sim/collectively.h"
#include "flb/sim/local_trainer.h"
#include "flb/sim/placement.h"
#include "flb/sim/results_schema.h"
#include "flb/sim/task.h"
#include "flb/sim/upload_frames.h"

namespace flb::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Root attributes written when a run finishes (results/README.md); their
// presence tells scripts that a run is complete.
const char* const kEndAttributes[] = {"completed_rounds", "mpi_gatherv_bytes_sent_all_ranks", "mpi_bcast_bytes",
                                      "memory_per_client_bytes", "rss_max_bytes"};

torch::Device pick_device(const std::string& want, int local_rank) {
  const bool have_cuda = torch::cuda::is_available();
  if (want == "cuda") require(have_cuda, "--device cuda: no CUDA device is visible (or this LibTorch has no CUDA); use --device cpu");
  if (want == "cpu" || !have_cuda) return torch::kCPU;
  const int count = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

// CPUs this process may run on (Slurm's cgroup/affinity, not the node's).
int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return 1;
}

int64_t rss_max_bytes() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

std::string now_iso8601() {
  char buf[32];
  std::time_t t = std::time(nullptr);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void copy_into(algo::Tensors& dst, const algo::Tensors& src) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < dst.size(); ++i) dst[i].copy_(src[i]);
}

int64_t values_sent(const compress::Payload& p, int64_t* scalar_parts) {
  int64_t n = 0;
  for (const auto& part : p.parts) {
    n += static_cast<int64_t>(part.values.size());
    if (part.kind == compress::PartKind::kScalar) ++*scalar_parts;
  }
  return n;
}

}  // namespace

RunSummary run_experiment(const RunConfig& config, const RunInfo& info, comm::MpiComm& comm) {
  const int rank = comm.rank();
  const bool root = rank == 0;

  // ---- setup: identical on every rank --------------------------------------
  torch::Device device = torch::kCPU;
  std::unique_ptr<Task> task;
  std::unique_ptr<algo::Algorithm> algorithm;
  algo::Tensors params, global;
  std::unique_ptr<LocalTrainer> trainer;
  compress::WireSchema schema;
  std::unique_ptr<metrics::ResultsFile> results;
  int threads = 0;
  collectively(comm, [&] {
    validate(config);
    device = pick_device(config.device, comm.local_rank());
    threads = config.threads > 0 ? config.threads : std::max(1, usable_cpus() / comm.local_size());
    torch::set_num_threads(threads);
    algorithm = algo::make_algorithm(config);  // validates the algorithm options
    torch::manual_seed(config.seed);  // the same initial model on every rank
    model::LowRankSpec spec;  // the algorithm's low-rank layers, with the model's LoRA dropout
    if (algorithm->model_spec()) {
      spec = *algorithm->model_spec();
      spec.dropout = config.model.lora_dropout;
    }
    task = make_task(config, algorithm->model_spec() ? &spec : nullptr, device);
    params = algorithm->trainable(task->model());
    for (auto& p : task->model().parameters()) {
      bool trained = false;
      for (const auto& q : params) trained = trained || p.is_same(q);
      p.set_requires_grad(trained);
    }
    for (const auto& p : params) global.push_back(p.detach().clone());
    trainer = std::make_unique<LocalTrainer>(*task, params, config.train, device);
    schema.algorithm = algorithm->wire_id();
    for (const auto& p : params) schema.tensor_numel.push_back(static_cast<uint64_t>(p.numel()));
  });
  const std::vector<std::vector<int64_t>>& client_samples = task->client_samples();
  const RunState state{global, task->model(), *algorithm};
  const std::string resumable = resumable_config(info.config_toml);

  // ---- --resume: the checkpoint's state, or "already finished" ---------------
  Manifest resumed;  // completed_rounds 0 and zero totals for a fresh run
  RunSummary summary;
  if (config.resume) {
    std::string finished = "-1";  // completed_rounds of --out, -1 if unfinished
    collectively(comm, [&] {
      int64_t n = 0;
      if (root && metrics::read_int_attribute(config.out, "completed_rounds", &n)) finished = std::to_string(n);
    });
    comm.bcast_text(finished);
    std::string dir;
    const bool have = find_checkpoint(comm, config.out, resumable, &resumed, &dir);
    if (std::stoll(finished) >= config.rounds) {
      if (root)
        std::cout << "flbench: " << config.out << " already finished " << finished
                  << " rounds; nothing to do (pass a larger --rounds to continue it)" << std::endl;
      summary.rounds = std::stoll(finished);
      summary.already_finished = true;
      return summary;
    }
    if (!have)
      throw CollectiveError("--resume: no checkpoint of " + config.out + " (" + config.out +
                            ".ckpt); drop --resume to start the run afresh (with --overwrite if " + config.out +
                            " exists), and pass --checkpoint-every to checkpoint it");
    if (resumed.completed_rounds >= config.rounds)
      throw CollectiveError("--rounds " + std::to_string(config.rounds) + ": the checkpoint " + dir + " already holds " +
                            std::to_string(resumed.completed_rounds) + " rounds; pass a larger --rounds");
    load_checkpoint(comm, dir, device, state);
    if (root)
      std::cout << "flbench: resuming from " << dir << " after round " << resumed.completed_rounds << std::endl;
  }

  // The results file is created (or reopened) collectively; its errors are collective too.
  const std::vector<std::string> hosts = comm.hostnames();
  std::string start_time = now_iso8601();
  comm.bcast_text(start_time);  // rank 0's clock for everyone (attributes must match)
  metrics::Table *round_table_p = nullptr, *client_table_p = nullptr, *eval_table_p = nullptr;
  if (config.resume) {
    // Append: drop the rows written after the checkpoint (by a run that died
    // later) and whatever a finished run wrote at its end.
    collectively(comm, [&] {
      results = std::make_unique<metrics::ResultsFile>(config.out, comm.handle(), metrics::ResultsFile::Append{});
      round_table_p = &results->open_table("rounds", round_columns(), resumed.rows("rounds"));
      client_table_p = &results->open_table("clients", client_columns(), resumed.rows("clients"));
      eval_table_p = &results->open_table("eval", eval_columns(), resumed.rows("eval"));
      for (const char* name : kEndAttributes) results->remove_attribute(name);
      results->remove("final_model");
      results->set_attribute("config_toml", info.config_toml);  // --rounds may have grown
      results->flush();
    });
  } else {
    collectively(comm, [&] { results = std::make_unique<metrics::ResultsFile>(config.out, comm.handle(), config.overwrite); });
  }
  std::string host_list;
  for (const auto& h : hosts) host_list += (host_list.empty() ? "" : ",") + h;
  const BuildInfo& build = build_info();
  if (!config.resume) {
    results->set_attribute("schema_version", metrics::kSchemaVersion);
    results->set_attribute("flbench_version", build.version);
    results->set_attribute("git_revision", build.git_revision);
    results->set_attribute("config_toml", info.config_toml);
    results->set_attribute("command_line", info.command_line);
    results->set_attribute("algorithm", algorithm->name());
    results->set_attribute("mpi_size", static_cast<int64_t>(comm.size()));
    results->set_attribute("hostnames", host_list);
    results->set_attribute("torch_version", build.torch_version);
    results->set_attribute("mpi_version", comm::mpi_library_version());
    results->set_attribute("hdf5_version", metrics::hdf5_version());
    results->set_attribute("device", device.str());
    results->set_attribute("threads_per_rank", static_cast<int64_t>(threads));
    results->set_attribute("seed", static_cast<int64_t>(config.seed));
    results->set_attribute("start_time", start_time);
    round_table_p = &results->add_table("rounds", round_columns());
    client_table_p = &results->add_table("clients", client_columns());
    eval_table_p = &results->add_table("eval", eval_columns());
    std::string eval_names;
    for (const auto& name : task->eval_domains()) eval_names += (eval_names.empty() ? "" : ",") + name;
    results->set_group_attribute("eval", "domain_names", eval_names);
    results->flush();
  }
  metrics::Table& round_table = *round_table_p;
  metrics::Table& client_table = *client_table_p;
  metrics::Table& eval_table = *eval_table_p;

  // Bytes of per-client state this rank holds: its clients' sample lists.
  int64_t hosted_sample_bytes = 0;
  for (int64_t c = 0; c < config.clients; ++c)
    if (owner_rank(c, config.clients, comm.size()) == rank)
      hosted_sample_bytes += static_cast<int64_t>(client_samples[c].size() * sizeof(int64_t));

  if (root) {
    std::cout << "flbench: " << algorithm->name() << " on " << task->describe() << ", " << config.clients << " clients, " << config.clients_per_round << " per round, " << config.rounds
              << " rounds, " << comm.size() << " rank(s) x " << threads << " thread(s) on " << device.str() << " -> "
              << config.out << std::endl;
  }

  Timer run_clock;
  // Totals of all rounds so far (earlier attempts included), as of `rounds` completed.
  RunTotals totals = resumed.totals;
  auto totals_now = [&] {
    RunTotals t = totals;
    for (uint64_t s : comm.allgather(comm.counters().gather_sent)) t.gather_sent_all += static_cast<int64_t>(s);
    t.bcast_bytes += static_cast<int64_t>(comm.counters().bcast_bytes);
    t.rss_max = std::max<int64_t>(t.rss_max, static_cast<int64_t>(comm.max_all(static_cast<uint64_t>(rss_max_bytes()))));
    t.seconds += run_clock.seconds();
    return t;
  };
  double last_test_loss = kNaN, last_test_accuracy = kNaN;
  for (int64_t round = resumed.completed_rounds; round < config.rounds; ++round) {
    RoundRow row;
    row.round = round;
    Timer round_clock, phase;

    // 1. Sample the round's clients: the same list on every rank.
    const std::vector<int64_t> sampled = sample_clients(config.seed, round, config.clients, config.clients_per_round);
    row.clients = static_cast<int64_t>(sampled.size());

    // 2. Each rank trains its sampled clients from the global state and
    //    encodes their uploads into one buffer of frames.
    std::vector<uint8_t> uploads;
    std::vector<ClientRow> client_rows;
    std::vector<double> client_losses;  // (client, samples, loss) triples for rank 0
    double train_s = 0, encode_s = 0;
    for (int64_t c : sampled) {
      if (owner_rank(c, config.clients, comm.size()) != rank) continue;
      const algo::ClientContext ctx{c, round, static_cast<int64_t>(client_samples[c].size())};
      phase.reset();
      copy_into(params, global);
      algorithm->load_client(ctx, params);
      const LocalResult local = trainer->train(client_samples[c], config.seed, c, round, {
          [&] { return algorithm->regularizer(params, global); },
          [&] { algorithm->after_step(ctx, params); }});
      train_s += phase.seconds();
      phase.reset();
      const compress::Payload payload = algorithm->encode_upload(ctx, global, params);
      ClientRow cr{round, c, rank, ctx.samples, local.steps, local.mean_loss, 0, 0, 0};
      cr.nonzeros = values_sent(payload, &cr.scalar_parts);
      cr.bytes_up = static_cast<int64_t>(append_frame(uploads, static_cast<uint32_t>(c), payload));
      encode_s += phase.seconds();
      client_rows.push_back(cr);
      client_losses.insert(client_losses.end(), {double(c), double(ctx.samples), local.mean_loss});
    }
    row.train = comm.max_to_root(train_s);
    row.encode = comm.max_to_root(encode_s);
    const std::vector<double> losses = comm.gather_doubles(client_losses);

    // 3. Gather every rank's uploads at rank 0.
    phase.reset();
    const comm::Gathered gathered = comm.gatherv(uploads);
    row.gather = phase.seconds();

    // 4. Rank 0 decodes (validated), aggregates in client-id order and
    //    encodes the broadcast. An empty broadcast tells the ranks to stop.
    phase.reset();
    std::vector<uint8_t> download;
    std::string stop_reason;
    if (root) {
      row.bytes_up = static_cast<int64_t>(gathered.bytes.size());
      std::vector<algo::Upload> accepted;
      try {
        for (size_t i = 0; i + 2 < losses.size(); i += 3)
          require(std::isfinite(losses[i + 2]), "client " + std::to_string(static_cast<int64_t>(losses[i])) +
                                                    " diverged (local loss " + std::to_string(losses[i + 2]) +
                                                    "); lower --lr");
        for (int r = 0; r < comm.size(); ++r) {
          for (const Frame& f : split_frames(gathered.bytes.data() + gathered.offsets[r],
                                             gathered.offsets[r + 1] - gathered.offsets[r], r)) {
            try {
              require(f.client < config.clients && owner_rank(f.client, config.clients, comm.size()) == r &&
                          std::binary_search(sampled.begin(), sampled.end(), int64_t{f.client}),
                      "rank " + std::to_string(r) + " sent an upload for client " + std::to_string(f.client) +
                          ", which it does not host or which was not sampled this round");
              accepted.push_back({f.client, static_cast<int64_t>(client_samples[f.client].size()),
                                  compress::decode(f.data, f.size, schema, f.client)});
            } catch (const Error& e) {
              if (config.on_bad_upload == "stop") throw;
              std::cerr << "flbench: round " << round + 1 << ": rejected upload: " << e.what() << " (skipped)\n";
              ++row.rejected;
            }
          }
        }
        std::sort(accepted.begin(), accepted.end(), [](const auto& a, const auto& b) { return a.client < b.client; });
        for (size_t i = 1; i < accepted.size(); ++i)
          require(accepted[i].client != accepted[i - 1].client,
                  "client " + std::to_string(accepted[i].client) + " uploaded twice");
        require(!accepted.empty(), "no valid upload this round");
        for (const algo::Upload& u : accepted) {
          row.parts += static_cast<int64_t>(u.payload.parts.size());
          for (const auto& part : u.payload.parts) row.scalar_parts += part.kind == compress::PartKind::kScalar;
        }
        compress::encode(algorithm->aggregate(round, accepted, global), download);
      } catch (const Error& e) {
        const bool malformed = std::string(e.what()).find("malformed") != std::string::npos;
        stop_reason = std::string("round ") + std::to_string(round + 1) + ": " + e.what() +
                      (malformed ? " (the run stops; --on-bad-upload skip drops malformed uploads instead)" : "");
        download.clear();
      }
    }
    row.aggregate = phase.seconds();

    // 5. Broadcast the server's payload to every rank.
    phase.reset();
    comm.bcast(download);
    row.bcast = phase.seconds();
    if (download.empty()) throw CollectiveError(root ? stop_reason : "stopped by rank 0");
    row.bytes_down = static_cast<int64_t>(download.size());

    // 6. Every rank applies it to the global state.
    phase.reset();
    algorithm->apply_download(round, global, compress::decode(download.data(), download.size(), schema, compress::kServerId));
    row.apply = phase.seconds();

    // 7. Rank 0 evaluates the global model every --eval-every rounds.
    phase.reset();
    row.test_loss = row.test_accuracy = kNaN;
    const bool last = round + 1 == config.rounds;
    std::vector<EvalRow> eval_rows;
    if (root && ((round + 1) % config.eval_every == 0 || last)) {
      copy_into(params, global);
      const std::vector<DomainEval> evals = task->evaluate();
      double loss = 0, accuracy = 0, in_domain = 0;
      for (size_t d = 0; d < evals.size(); ++d) {
        eval_rows.push_back({round, static_cast<int64_t>(d), evals[d].in_domain, evals[d].loss, evals[d].accuracy});
        if (!evals[d].in_domain) continue;
        loss += evals[d].loss;
        accuracy += evals[d].accuracy;
        in_domain += 1;
      }
      row.test_loss = last_test_loss = loss / in_domain;  // mean over the in-domain sets
      row.test_accuracy = last_test_accuracy = accuracy / in_domain;
    }
    row.eval = phase.seconds();

    // 8. Metrics: client rows from every rank, the round row from rank 0.
    phase.reset();
    if (root) {
      double weighted = 0, samples = 0;
      for (size_t i = 0; i + 2 < losses.size(); i += 3) {  // client-id order: ranks hold ascending blocks
        weighted += losses[i + 1] * losses[i + 2];
        samples += losses[i + 1];
      }
      row.train_loss = samples > 0 ? weighted / samples : kNaN;
    }
    client_table.append(to_rows(client_rows));
    eval_table.append(to_rows(eval_rows));
    row.io = phase.seconds();
    row.rss_max_bytes = static_cast<int64_t>(comm.max_to_root(static_cast<double>(rss_max_bytes())));
    const std::vector<uint64_t> state_bytes = comm.allgather(static_cast<uint64_t>(hosted_sample_bytes + algorithm->client_state_bytes()));
    for (uint64_t s : state_bytes) row.client_state_bytes += static_cast<int64_t>(s);
    row.server_state_bytes = root ? algorithm->server_state_bytes() : 0;
    row.wall = round_clock.seconds();
    round_table.append(to_rows(root ? std::vector<RoundRow>{row} : std::vector<RoundRow>{}));
    results->flush();

    totals.bytes_up += row.bytes_up;
    totals.bytes_down += row.bytes_down;
    if (root) {
      metrics::Progress p{round, config.rounds, row.train_loss, row.test_loss, row.test_accuracy,
                          row.bytes_up / 1e6, row.bytes_down / 1e6, row.wall, run_clock.seconds(), resumed.completed_rounds};
      std::cout << metrics::progress_line(p) << std::endl;
    }

    // 9. Checkpoint every --checkpoint-every rounds, and stop on a signal:
    //    all ranks agree whether any of them got one. The last round is not
    //    checkpointed: the run is complete, and --resume with a larger
    //    --rounds continues from the checkpoint before it, as an
    //    uninterrupted longer run would have gone (its evaluations differ).
    const bool stop = comm.any(stop_requested()) && !last;
    if (stop || (config.checkpoint_every > 0 && (round + 1) % config.checkpoint_every == 0 && !last)) {
      Timer ckpt_clock;
      Manifest m;
      m.completed_rounds = round + 1;
      m.mpi_size = comm.size();
      m.config_hash = config_hash(resumable);
      m.table_rows = {{"rounds", round_table.rows()}, {"clients", client_table.rows()}, {"eval", eval_table.rows()}};
      m.totals = totals_now();
      write_checkpoint(comm, config.out, m, resumable, state);
      if (root) {
        std::printf("flbench: checkpoint after round %lld -> %s.ckpt (%.2f s)\n", static_cast<long long>(round + 1),
                    config.out.c_str(), ckpt_clock.seconds());
        std::fflush(stdout);
      }
    }
    if (stop) {
      summary.checkpointed = true;
      summary.rounds = round + 1;
      summary.seconds = totals.seconds + run_clock.seconds();
      summary.bytes_up = static_cast<uint64_t>(totals.bytes_up);
      summary.bytes_down = static_cast<uint64_t>(totals.bytes_down);
      return summary;
    }
  }

  // ---- the end: final model and totals --------------------------------------
  copy_into(params, global);
  for (const auto& item : task->model().named_parameters()) {
    const torch::Tensor host = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    results->write_array("final_model/" + item.key(), host.sizes().vec(), host.data_ptr<float>());
  }
  const RunTotals end = totals_now();
  const std::vector<uint64_t> state_bytes = comm.allgather(static_cast<uint64_t>(hosted_sample_bytes + algorithm->client_state_bytes()));
  int64_t state_total = 0;
  for (uint64_t s : state_bytes) state_total += static_cast<int64_t>(s);
  results->set_attribute("mpi_gatherv_bytes_sent_all_ranks", end.gather_sent_all);
  results->set_attribute("mpi_bcast_bytes", end.bcast_bytes);
  results->set_attribute("memory_per_client_bytes", state_total / config.clients);
  results->set_attribute("rss_max_bytes", end.rss_max);
  results->set_attribute("completed_rounds", config.rounds);
  results->flush();

  summary.rounds = config.rounds;
  summary.test_loss = last_test_loss;
  summary.test_accuracy = last_test_accuracy;
  summary.seconds = end.seconds;
  summary.bytes_up = static_cast<uint64_t>(end.bytes_up);
  summary.bytes_down = static_cast<uint64_t>(end.bytes_down);
  return summary;
}

}  // namespace flb::sim
