// flcomm's command line (CLI11). nccl-tests' sweep flags, with the
// message size read as one client's dense LoRA upload:
//
//   -b, -e, -f   sweep the upload size from -b to -e by factor -f (bytes,
//                K/M/G suffixes of 1024); each size becomes the LoRA rank
//                whose dense factors are nearest that size (at least 1).
//                Without -b: one size, rank -r.
//   -n, -w       timed and warm-up rounds per configuration
//
// Options flcomm does not know are passed to the algorithms as on
// flbench's command line (--upload-sparsity 0.9, --topk-ratio 0.01); an
// option no algorithm knows is an error there.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "factor_model.h"

namespace flcomm {

struct Options {
  std::string model = "llama-3.2-1b";  // preset; "" with --layers/--dims
  int64_t layers = 0;
  std::string dims;
  int64_t rank = 16;
  int64_t min_bytes = 0, max_bytes = 0;
  double factor = 2;
  int64_t clients_per_rank = 2;
  int iters = 5, warmup = 1;
  std::vector<std::string> algorithms = {"fedit", "fedsrd", "fedsrd-e", "flexlora", "fed-dare", "topk", "lbgm"};
  std::vector<std::string> algorithm_args;  // everything flcomm does not know
  double update_scale = 0.1;                // client updates, relative to the factors' scale
  int threads = 0;
  uint64_t seed = 1;
  std::string json, out;
  bool overwrite = false, quick = false;
  std::string corrupt;  // test hook: "gather" or "bcast" flips a byte after it is checksummed

  Workload workload() const;
  // The LoRA ranks to run: the -b/-e/-f sweep, or {rank}.
  std::vector<int64_t> ranks(const Workload& w) const;
};

// The value of the algorithm option `--name V` or `--name=V` among
// o.algorithm_args, or `fallback` (the algorithm's default) when absent.
double algorithm_arg(const Options& o, const std::string& name, double fallback);

// Thrown by parse_options after printing --help (the caller exits 0).
struct HelpShown {};

// Parses argv; on --help prints it (when print_help) and throws HelpShown; on a bad option throws
// flb::Error with CLI11's message. --quick replaces the workload and
// counts with a seconds-long one (two layers of 96x64 and 64x96, r = 4,
// 2 clients per rank, -n 2 -w 1).
Options parse_options(int argc, char** argv, bool print_help);

}  // namespace flcomm
