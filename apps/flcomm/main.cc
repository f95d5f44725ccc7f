// flcomm: the communication and aggregation micro-benchmark (nccl-tests /
// OSU style). Every configuration (LoRA rank x algorithm) runs -w warm-up
// and -n timed federated rounds on synthetic LoRA payloads shaped like a
// real model's, and prints one table row per phase with its bound and
// #wrong (round_bench.h, report.h). Exit status: 0, 1 when a check
// failed, 2 on bad input.
//
//   mpirun -np 2 flcomm --model llama-3.2-3b -r 64 -c 2 -n 5 -w 1
//   mpirun -np 4 flcomm --model llama-3-8b -b 16M -e 256M -f 2 --algorithms fedit,fedsrd
#include <mpi.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>

#include "flb/algo/registry.h"
#include "flb/comm/mpi_transport.h"
#include "flb/core/error.h"
#include "options.h"
#include "report.h"
#include "round_bench.h"

namespace {

// What one configuration needs on this node, roughly: every rank's four
// copies of the factors (trained, global, update pool, temporaries) and
// its own uploads, and at rank 0 the gathered uploads on top (its own
// buffer grows into them in the first round), two dense temporaries and
// the raw-MPI bound's buffers (at most INT_MAX bytes received, and sent).
double needed_bytes(const flcomm::Options& o, const flcomm::Workload& w, int64_t r, const std::string& algorithm,
                    int ranks_here, int ranks) {
  const double dense = 4.0 * static_cast<double>(w.factor_values(r));
  double upload = dense;  // as a fraction of the dense factors: values plus int32 positions
  if (algorithm == "fedsrd" || algorithm == "fedsrd-e") upload *= 2 * (1 - flcomm::algorithm_arg(o, "--upload-sparsity", 0.9));
  if (algorithm == "fed-dare") upload *= 2 * (1 - flcomm::algorithm_arg(o, "--dare-p", 0.9));
  if (algorithm == "topk") upload *= 2 * flcomm::algorithm_arg(o, "--topk-ratio", 0.01);
  const double clients = static_cast<double>(o.clients_per_rank) * ranks;
  const double own = upload * static_cast<double>(o.clients_per_rank);
  const double raw = std::min(upload * clients, 2147483647.0) + std::min(own, 2147483647.0 / ranks);
  return (4 * dense + own) * ranks_here + upload * clients + 2 * dense + raw;
}

double mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (in >> key >> kb)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

// Refuses, before anything runs, a configuration that would not fit.
void preflight(const flcomm::Options& o, const flcomm::Workload& w, flb::comm::MpiTransport& t) {
  const double available = mem_available_bytes();
  if (available <= 0) return;
  for (int64_t r : o.ranks(w))
    for (const auto& a : o.algorithms) {
      const double need = needed_bytes(o, w, r, a, t.local_size(), t.size());
      flb::require(need < 0.9 * available,
                   a + " at r = " + std::to_string(r) + " with " + std::to_string(o.clients_per_rank * t.size()) +
                       " clients needs about " + std::to_string(static_cast<int64_t>(need / 1e9)) +
                       " GB on this node, which has " + std::to_string(static_cast<int64_t>(available / 1e9)) +
                       " GB available: lower -c, -r or the ranks per node, or drop that algorithm");
    }
}

// Builds every algorithm once with its options, so an unknown name or a
// bad algorithm option stops the run before the table starts.
void check_algorithms(const flcomm::Options& o) {
  std::vector<std::string> args = o.algorithm_args;
  args.insert(args.end(), {"--lora-rank", std::to_string(o.rank)});
  const auto options = flb::algo::parse_options(args);
  for (const auto& a : o.algorithms) (void)flb::algo::make_algorithm(a, options.get(), o.seed);
}

int run(int argc, char** argv, flb::comm::MpiTransport& t) {
  flcomm::Options o;
  flcomm::Workload w;
  try {
    o = flcomm::parse_options(argc, argv, t.rank() == 0);
    w = o.workload();
    check_algorithms(o);
    preflight(o, w, t);
  } catch (const flcomm::HelpShown&) {
    return 0;
  } catch (const flb::Error& e) {  // the same on every rank
    if (t.rank() == 0) std::cerr << "flcomm: " << e.what() << "\n";
    return 2;
  }
  if (o.threads > 0) torch::set_num_threads(o.threads);
  flcomm::Report report(o, w, t);
  for (int64_t r : o.ranks(w))
    for (const auto& a : o.algorithms) report.add(flcomm::run_config(o, w, r, a, t));
  return report.finish() > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int status = 0;
  {
    flb::comm::MpiTransport transport(MPI_COMM_WORLD);
    try {
      status = run(argc, argv, transport);
    } catch (const std::exception& e) {  // one rank's failure ends the job, with its message
      std::cerr << "flcomm: rank " << transport.rank() << ": " << e.what() << "\n";
      MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int worst = status;
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    status = worst;
  }
  MPI_Finalize();
  return status;
}
