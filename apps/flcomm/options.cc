#include "options.h"

#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdlib>
#include <iostream>

#include "flb/core/error.h"
#include "flb/model/llama_presets.h"

namespace flcomm {

Workload Options::workload() const {
  if (!dims.empty() || layers > 0) {
    flb::require(!dims.empty() && layers > 0, "--layers and --dims: give both (or --model PRESET)");
    return custom_workload(layers, dims);
  }
  return preset_workload(model);
}

std::vector<int64_t> Options::ranks(const Workload& w) const {
  if (min_bytes == 0) return {rank};
  const double bytes_per_rank = 4.0 * static_cast<double>(w.factor_values(1));
  std::vector<int64_t> out;
  for (double b = static_cast<double>(min_bytes); b <= static_cast<double>(max_bytes) * (1 + 1e-9); b *= factor) {
    const int64_t r = std::max<int64_t>(1, std::llround(b / bytes_per_rank));
    if (out.empty() || out.back() != r) out.push_back(r);
  }
  return out;
}

double algorithm_arg(const Options& o, const std::string& name, double fallback) {
  const auto& args = o.algorithm_args;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == name && i + 1 < args.size()) return std::stod(args[i + 1]);
      if (args[i].rfind(name + "=", 0) == 0) return std::stod(args[i].substr(name.size() + 1));
    }
  } catch (const std::exception&) {
    throw flb::Error(name + ": not a number");
  }
  return fallback;
}

Options parse_options(int argc, char** argv, bool print_help) {
  Options o;
  CLI::App app{
      "flcomm: what one federated round of each algorithm costs, phase by phase, on LoRA payloads shaped like a "
      "real model's, next to its bound (raw MPI, a plain LibTorch product, memcpy). Run it under mpirun; every "
      "rank hosts -c clients. Options it does not know go to the algorithms (--upload-sparsity, --topk-ratio).",
      "flcomm"};
  app.allow_extras();
  app.add_option("--model", o.model, "payload shapes of this preset: " + [] {
    std::string s;
    for (const auto& n : flb::model::llama_preset_names()) s += (s.empty() ? "" : ", ") + n;
    return s;
  }())->capture_default_str();
  app.add_option("--layers", o.layers, "custom shapes: this many layers of each --dims shape")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  app.add_option("--dims", o.dims, "custom shapes: OUTxIN list, e.g. 4096x4096,1024x4096");
  app.add_option("-r,--rank", o.rank, "LoRA rank r (without -b)")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("-b,--minbytes", o.min_bytes, "sweep: smallest dense upload per client (bytes; K, M, G)")
      ->transform(CLI::AsSizeValue(false));
  app.add_option("-e,--maxbytes", o.max_bytes, "sweep: largest dense upload per client")->transform(CLI::AsSizeValue(false));
  app.add_option("-f,--stepfactor", o.factor, "sweep: multiply the size by this")->check(CLI::Range(1.01, 1e6))
      ->capture_default_str();
  app.add_option("-c,--clients-per-rank", o.clients_per_rank, "simulated clients on every rank")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("-n,--iters", o.iters, "timed rounds per configuration")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("-w,--warmup_iters", o.warmup, "warm-up rounds per configuration")->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  app.add_option("--algorithms", o.algorithms, "algorithms to run (comma list)")->delimiter(',')->capture_default_str();
  app.add_option("--update-scale", o.update_scale, "client updates as a fraction of the factors' scale")
      ->check(CLI::Range(1e-9, 1e3))->capture_default_str();
  app.add_option("--threads", o.threads, "LibTorch intra-op threads per rank (0: its default)")->check(CLI::Range(0, 4096));
  app.add_option("--seed", o.seed, "seed of the factors, the updates and the algorithms")->capture_default_str();
  app.add_option("--json", o.json, "also write every row to this JSON file");
  app.add_option("--out", o.out, "also write every row to this HDF5 file (table /flcomm)");
  app.add_flag("--overwrite", o.overwrite, "replace an existing --json or --out file");
  app.add_flag("--quick", o.quick, "a seconds-long run of every algorithm (for ctest)");
  app.add_option("--corrupt", o.corrupt, "test hook: flip one byte of rank 1's upload (gather) or of rank 1's copy of "
                                         "the broadcast (bcast) after checksumming, to show #wrong counts it")
      ->check(CLI::IsMember({"gather", "bcast"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    if (print_help) std::cout << app.help();
    throw HelpShown{};
  } catch (const CLI::ParseError& e) {
    throw flb::Error(e.what());
  }
  o.algorithm_args = app.remaining();
  for (const auto& a : o.algorithm_args)
    flb::require(a.rfind("--lora-rank", 0) != 0, "--lora-rank: flcomm sets the rank; use -r (or -b/-e/-f)");
  flb::require(o.min_bytes == 0 || o.max_bytes >= o.min_bytes, "-e: must be at least -b");
  if (o.min_bytes > 0 && o.max_bytes == 0) o.max_bytes = o.min_bytes;
  if (o.quick) {
    o.layers = 2;
    o.dims = "96x64,64x96";
    o.rank = 4;
    o.min_bytes = o.max_bytes = 0;
    o.clients_per_rank = 2;
    o.iters = 2;
    o.warmup = 1;
  }
  return o;
}

}  // namespace flcomm
