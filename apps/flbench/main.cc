// flbench: federated fine-tuning experiments over MPI.
//
//   mpirun -np 2 flbench --algorithm fedavg --clients 100 --rounds 30 --out run.h5
//
// Exit status: 0 done (or --resume of a finished run), 1 the run failed,
// 2 bad command line or config, 75 (EX_TEMPFAIL) checkpointed and stopped
// on SIGTERM/SIGUSR1: continue with --resume.
#include <malloc.h>
#include <mpi.h>
#include <unistd.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>

#include "config_file.h"
#include "eval.h"
#include "flb/algo/registry.h"
#include "flb/comm/mpi_transport.h"
#include "flb/core/build_info.h"
#include "flb/core/collective_error.h"
#include "flb/core/stop_signal.h"
#include "flb/core/test_fault.h"
#include "flb/core/watchdog.h"
#include "flb/metrics/results_file.h"
#include "flb/sim/experiment.h"
#include "flb/sim/collectively.h"
#include "flb/sim/hostile_upload.h"
#ifdef FLB_HAVE_NCCL
#include "flb/nccl/nccl_transport.h"
#endif
#include "flb/sim/pretrain.h"
#include "options.h"
#include "tokenize.h"

namespace {

constexpr int kExitCheckpointed = 75;  // EX_TEMPFAIL: stopped on a signal after a checkpoint; --resume continues

std::string version_text() {
  const flb::BuildInfo& b = flb::build_info();
  std::ostringstream s;
  s << "flbench " << b.version << " (git " << b.git_revision << ")\n"
    << "  LibTorch " << b.torch_version << "\n"
    << "  MPI      " << flb::comm::mpi_library_version() << "\n"
    << "  HDF5     " << flb::metrics::hdf5_version() << " (built with " << b.hdf5 << ")\n"
    << "  CUDA     " << (b.cuda ? "yes" : "none") << ", NCCL " << (b.nccl ? "yes" : "none") << "\n"
    << "  GPU      " << (torch::cuda::is_available() ? std::to_string(torch::cuda::device_count()) + " visible" : "none visible")
    << "\n";
  return s.str();
}

std::string joined(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + std::string(argv[i]);
  return s;
}

// flbench pretrain: the base language model for --dataset text.
struct PretrainCommand {
  CLI::App* app = nullptr;
  flb::RunConfig config;
  int64_t steps = 2000, report = 200;
  std::string out = "results/lm/base";
  bool overwrite = false;
};

void add_pretrain_command(CLI::App& app, PretrainCommand& p) {
  p.app = app.add_subcommand("pretrain", "Train the byte-level base Llama centrally on --domains (one process) and write it as a Hugging Face directory");
  p.config.data.domains = {"en-society", "en-computing"};
  p.config.data.ood_domains = {};
  p.config.train.optimizer = "adamw";
  p.config.train.lr = 3e-3;
  p.config.train.batch_size = 32;
  CLI::App* pre = p.app;
  pre->option_defaults()->always_capture_default();
  flbench::add_text_options(*pre, p.config);
  pre->add_option("--steps", p.steps, "Optimiser steps")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  pre->add_option("--report-every", p.report, "Print held-out loss every k steps")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  pre->add_option("--batch-size", p.config.train.batch_size, "Minibatch size")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  pre->add_option("--lr", p.config.train.lr, "Learning rate")->check(flbench::kPositiveNumber);
  pre->add_option("--optimizer", p.config.train.optimizer, "sgd or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
  pre->add_option("--seed", p.config.seed, "Seed");
  pre->add_option("--threads", p.config.threads, "Intra-op threads (0: usable CPUs)")->check(CLI::Range(0, 1024));
  pre->add_option("--out", p.out, "Directory to write the model to (config.json, model.safetensors)");
  pre->add_flag("--overwrite", p.overwrite, "Replace --out if it exists");
}

// flbench tokenize: text domains -> llm.c token shards for --dataset tokens.
CLI::App* add_tokenize_command(CLI::App& app, flbench::TokenizeOptions& tok) {
  CLI::App* tokc = app.add_subcommand("tokenize", "Tokenize text domains with a model's byte-level BPE tokenizer into "
                                                  "token shards (OUT/<domain>/train.bin, val.bin; one process)");
  tokc->option_defaults()->always_capture_default();
  tokc->add_option("--tokenizer", tok.tokenizer,
                   "tokenizer.json, or GPT-2's vocab.json + merges.txt, or the directory holding them")
      ->required();
  tokc->add_option("--text-dir", tok.text_dir,
                   "One subdirectory per domain (scripts/make-corpora.sh's output), or one directory of text files")
      ->required();
  tokc->add_option("--out", tok.out, "Output directory: OUT/<domain>/train.bin and val.bin")->required();
  tokc->add_option("--val-fraction", tok.val_fraction, "Fraction of each domain's documents held out into val.bin")
      ->check(CLI::Range(0.0, 0.999));
  tokc->add_option("--seed", tok.seed, "Seed of the train/val split (the same split as --dataset text)");
  tokc->add_option("--document-token", tok.document_token,
                   "Token put before every document (default: the tokenizer's end-of-text token; none: nothing)");
  tokc->add_flag("--overwrite", tok.overwrite, "Replace the shards in an existing, non-empty --out");
  return tokc;
}

// flbench eval: held-out loss and perplexity of a Hugging Face model on a token shard.
CLI::App* add_eval_command(CLI::App& app, flbench::EvalOptions& ev) {
  CLI::App* evalc = app.add_subcommand("eval", "Mean next-token cross-entropy (nats) and perplexity of a Hugging Face "
                                                "model on a token shard's first windows (one process)");
  evalc->option_defaults()->always_capture_default();
  evalc->add_option("--base", ev.base, "Hugging Face model directory (config.json + safetensors)")->required();
  evalc->add_option("--tokens", ev.tokens, "Token shard (llm.c format, as flbench tokenize writes)")->required();
  evalc->add_option("--adapter", ev.adapter, "PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors)");
  evalc->add_option("--context", ev.context, "Tokens per window (T), at most the model's max_position_embeddings");
  evalc->add_option("--eval-sequences", ev.eval_sequences, "Windows scored, from the start of the file (fewer if short)");
  evalc->add_option("--batch-size", ev.batch_size, "Windows per forward pass");
  evalc->add_option("--threads", ev.threads, "Intra-op threads (0: usable CPUs)")->check(CLI::Range(0, 1024));
  evalc->add_flag("--json", ev.json, "Print one JSON object {loss, perplexity, tokens} and nothing else");
  return evalc;
}

// A subcommand that runs in one process: refused (exit 2) under mpirun
// with more ranks; flb::Error from `body` is one line and exit 1.
int run_in_one_process(const flb::comm::MpiTransport& comm, const std::string& prefix, const std::string& what,
                       const std::function<int()>& body) {
  if (comm.size() != 1) {
    if (comm.rank() == 0)
      std::cerr << prefix << "error: " << what << " runs in one process: run it without mpirun (or -np 1)\n";
    return 2;
  }
  try {
    return body();
  } catch (const flb::Error& e) {
    std::cerr << prefix << "error: " << e.what() << "\n";
    return 1;
  }
}

// `run(transport)` on the transport --transport names: MPI, or NCCL over
// the ranks' GPUs (flb/nccl/nccl_transport.h; control stays on `mpi`).
template <typename Run>
auto run_on(const std::string& transport, flb::comm::MpiTransport& mpi, Run run) {
  if (transport == "mpi") return run(mpi);
#ifdef FLB_HAVE_NCCL
  std::unique_ptr<flb::nccl::NcclTransport> nccl;
  flb::sim::collectively(mpi, [&] { nccl = std::make_unique<flb::nccl::NcclTransport>(mpi); });
  return run(*nccl);
#else
  throw flb::CollectiveError("--transport nccl: this flbench was built without NCCL");  // run_training refused it
#endif
}

// The federated run of the parsed `config` (the main job).
// round_timeout_s: the watchdog's (core/watchdog.h; 0: none). It guards the
// job, not the experiment, so it lives here and not in RunConfig.
int run_training(const flb::RunConfig& config, double round_timeout_s, const std::string& transport, const CLI::App& app,
                 int argc, char** argv, flb::comm::MpiTransport& comm) {
  const bool root = comm.rank() == 0;
  try {
    flb::validate(config);
    flb::algo::validate(config);
#ifndef FLB_HAVE_NCCL
    flb::require(transport == "mpi", "--transport nccl: this flbench was built without NCCL (CMake found no nccl.h "
                                     "and libnccl: set NCCL_HOME and rebuild, or use --transport mpi)");
#endif
    flb::arm_test_fault_from_env();
    flb::sim::arm_hostile_upload_from_env();
  } catch (const flb::Error& e) {
    if (root) std::cerr << "flbench: error: " << e.what() << "\n";
    return 2;
  }
  // The effective config, every option with its value (see effective_config).
  flb::sim::RunInfo info{joined(argc, argv), flbench::effective_config(app)};
  flb::install_stop_signal_handlers();  // SIGTERM, SIGUSR1: checkpoint at the end of the round
  const flb::RoundWatchdog watchdog(round_timeout_s, comm.rank());
  const flb::sim::RunSummary s = run_on(transport, comm, [&](flb::comm::Transport& t) {
    return flb::sim::run_experiment(config, info, t, comm.handle());
  });
  if (s.already_finished) return 0;
  if (s.checkpointed) {
    if (root) std::cout << "flbench: checkpointed after round " << s.rounds << "; resume with --resume" << std::endl;
    return kExitCheckpointed;
  }
  if (root) {
    std::printf("flbench: done: %lld rounds in %.1f s, test accuracy %.2f%%, loss %.4f, %.2f MB up, %.2f MB down -> %s\n",
                static_cast<long long>(s.rounds), s.seconds, 100.0 * s.test_accuracy, s.test_loss, s.bytes_up / 1e6,
                s.bytes_down / 1e6, config.out.c_str());
  }
  return 0;
}

int run(int argc, char** argv, flb::comm::MpiTransport& comm) {
  const bool root = comm.rank() == 0;
  CLI::App app{"flbench: communication-efficient federated training over MPI.\n"
               "Every rank hosts a block of clients; uploads go to rank 0 with MPI_Gatherv,\n"
               "rank 0 aggregates and broadcasts; metrics stream into one HDF5 file (--out)."};
  app.footer("Exit status: 0 done (or --resume of a finished run), 1 the run failed, 2 bad command line or config,\n"
             "75 stopped by SIGTERM/SIGUSR1 after finishing the round and checkpointing into <out>.ckpt\n"
             "(continue it with the same options plus --resume).");
  app.get_formatter()->column_width(42);
  flb::RunConfig config;
  bool version = false, list_algorithms = false;
  app.add_flag("--version", version, "Print the versions flbench was built with and whether a GPU is visible");
  app.add_flag("--list-algorithms", list_algorithms, "Print every algorithm's name and wire id, one per line")
      ->configurable(false);
  flbench::add_run_options(app, config);
  double round_timeout_s = 0;
  app.add_option("--round-timeout", round_timeout_s,
                 "End the job, with one message naming the rank, round and phase, when a round (its checkpoint "
                 "included) runs longer than S seconds: a rank died or hung in a collective (0: no watchdog)")
      ->check(CLI::Validator(
          [](std::string& v) {
            char* end = nullptr;
            const double s = std::strtod(v.c_str(), &end);
            return *end == '\0' && s >= 0 && std::isfinite(s) ? std::string()
                                                                : "must be a number of seconds >= 0 (0: no watchdog), not " + v;
          },
          "SECONDS"))
      ->group("Run");
  std::string transport = "mpi";
  app.add_option("--transport", transport,
                 "How uploads, broadcasts and reductions travel between ranks: mpi, or nccl between the ranks' "
                 "GPUs (control messages stay on MPI; needs a build with NCCL and a GPU per rank)")
      ->check(CLI::IsMember({"mpi", "nccl"}))
      ->group("Run");
  flbench::use_strict_config(app);
  PretrainCommand pre;
  add_pretrain_command(app, pre);
  flbench::TokenizeOptions tok;
  CLI::App* tokc = add_tokenize_command(app, tok);
  flbench::EvalOptions ev;
  CLI::App* evalc = add_eval_command(app, ev);
  try {
    flbench::reject_renamed_options(argc, argv);
    app.parse(argc, argv);
  } catch (const flbench::ConfigFileError& e) {
    // One line, from rank 0 only: "flbench: error: FILE:LINE: KEY: what is wrong".
    if (root) std::cerr << "flbench: error: " << e.what() << "\n";
    return 2;
  } catch (const CLI::ParseError& e) {
    if (!root) return e.get_exit_code() == 0 ? 0 : 2;
    if (evalc->parsed() && e.get_exit_code() != 0) {
      std::cerr << "flbench eval: error: " << e.what() << " (see flbench eval --help)\n";
      return 2;
    }
    const int code = app.exit(e);  // prints help, or the error naming the option
    return code == 0 ? 0 : 2;
  }
  if (version) {
    if (root) std::cout << version_text();
    return 0;
  }
  if (list_algorithms) {
    if (root)
      for (const flb::algo::RegistryEntry& e : flb::algo::registry()) std::cout << e.name << " " << e.wire_id << "\n";
    return 0;
  }
  if (pre.app->parsed())
    return run_in_one_process(comm, "flbench: ", "pretrain", [&] {
      if (pre.config.threads > 0) torch::set_num_threads(pre.config.threads);
      flb::sim::pretrain(pre.config, pre.steps, pre.report, pre.out, pre.overwrite);
      return 0;
    });
  if (tokc->parsed())
    return run_in_one_process(comm, "flbench: ", "tokenize", [&] {
      flbench::tokenize_domains(tok);
      return 0;
    });
  if (evalc->parsed()) return run_in_one_process(comm, "flbench eval: ", "eval", [&] { return flbench::run_eval(ev); });
  return run_training(config, round_timeout_s, transport, app, argc, argv, comm);
}

}  // namespace

// A round allocates and frees megabytes per client (deltas, payloads, the
// gathered buffers). With glibc's defaults each such block is mmapped and
// returned to the kernel, so every round pays page faults and zeroing on
// fresh memory: in the overhead benchmark (scripts/bench/overhead.sh) about
// two thirds of the framework's time per client. Keeping freed memory in
// the heap for reuse removes that; peak memory is unchanged.
static void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);  // blocks up to 1 GiB from the heap, not mmap
  mallopt(M_TRIM_THRESHOLD, INT_MAX);  // never give the heap's top back after a free
  mallopt(M_TOP_PAD, 256 << 20);       // grow the heap 256 MiB at a time
}

// Writes `line` with as few write(2) calls as the pipe allows. A rank's
// last words go through mpirun's I/O forwarding, which interleaves them
// with its own abort banner at write boundaries: a message written in
// pieces (std::cerr << a << b) came out split by the banner's dashes.
static void write_whole_line_to_stderr(const std::string& line) {
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr is gone: nothing left to tell
    done += static_cast<size_t>(n);
  }
}

// " in round R, phase P" for an error message, or "" outside the rounds.
static std::string where(const std::string& position) { return position.empty() ? "" : " in " + position; }

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  MPI_Init(&argc, &argv);
  int code = 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    flb::comm::MpiTransport comm(MPI_COMM_WORLD);
    code = run(argc, argv, comm);
  } catch (const flb::CollectiveError& e) {
    // Every rank is here together: finish cleanly, rank 0 says why (its
    // error carries every failing rank's message; sim/collectively.h).
    if (rank == 0) std::cerr << "flbench: error: " << e.what() << "\n";  // the message names its round
    code = 1;
  } catch (const std::exception& e) {
    // This rank alone failed; the others may wait in a collective forever.
    write_whole_line_to_stderr("flbench: rank " + std::to_string(rank) + ": error" + where(flb::position()) + ": " +
                               e.what() + "\n");
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return code;
}
