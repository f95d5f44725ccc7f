// One flcomm configuration: -w warm-up and -n timed rounds of one
// algorithm on one workload at one LoRA rank, every rank hosting -c
// clients, each phase of the round timed on every rank next to its bound:
//
//   phase         what is timed                                   bound, same run
//   encode        every hosted client's append_upload             (local - global) of every tensor: one read of both
//   gather        comm::MpiTransport::gatherv of the uploads      a raw MPI_Gatherv of the same byte counts (rank
//                                                                 0's own staying in place in both)
//   decode        rank 0: split and decode (validated) uploads    memcpy of the gathered bytes
//   aggregate     rank 0: the algorithm's aggregate() (for the    a plain LibTorch product of the reconstruction's
//                 LoRA family: reconstruct, average, decompose)   shape (FedSRD, FedSRD-e, FlexLoRA: one GEMM per
//                                                                 layer, B_stack (d_out, m r) x A_stack (m r, d_in);
//                                                                 the others: the weighted sum of m dense deltas),
//                                                                 timed once per configuration (the GEMM once per
//                                                                 distinct layer shape, times its count)
//   encode-bcast  rank 0: the broadcast's wire encoding          memcpy of its bytes
//   bcast         comm::MpiTransport::bcast                       a raw MPI_Bcast of the same bytes
//   apply         every rank: decode + apply_download             memcpy of the broadcast's bytes
//
// Local training is not run: each client's update is a slice of a random
// pool (seeded, varying with client and round) of --update-scale times
// the factors' scale, added to the global factors.
//
// After the last timed round it checks (nccl-tests' #wrong), per phase:
//   encode     an upload whose wire bytes differ from what append_upload reported
//   gather     an upload whose checksum (crc32) at rank 0 differs from its sender's
//   decode     an upload rank 0's validating decoder rejects
//   aggregate  FedIT, Fed-DARE, top-k, LBGM (rounds without scalar uploads):
//              every tensor of the broadcast against the float64 weighted mean
//              of the decoded uploads (relative 1e-5); FedSRD, FedSRD-e: the
//              first layer's solved factor against dense_reference.h's
//              (relative 1e-4, at the broadcast's positions, survivors /
//              (1 - q)); FlexLoRA: the first layer's new B A against the
//              rank-r truncation of the dense W_avg (relative 1e-3)
//   bcast      a rank whose copy of the broadcast has another checksum
//   apply      a rank whose global factors differ (crc32) from rank 0's
// A check that does not apply is -1 (printed "-").
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "flb/comm/mpi_transport.h"
#include "options.h"

namespace flcomm {

enum Phase { kEncode, kGather, kDecode, kAggregate, kEncodeBcast, kBcast, kApply, kPhases };
const char* phase_name(Phase p);

struct PhaseResult {
  double avg_s = 0, min_s = 0, max_s = 0;  // per round, over the ranks that run the phase
  double bound_s = 0;                      // the bound's time (rank 0's, or the mean over ranks)
  double bytes = 0;                        // per round
  double flops = 0;                        // the bound's floating-point operations (aggregate), else 0
  int64_t wrong = -1;                      // -1: not checked
};

struct ConfigResult {
  std::string algorithm;
  int64_t rank = 0;     // LoRA rank
  int64_t clients = 0;  // in the round, over all ranks
  std::array<PhaseResult, kPhases> phases;
};

// Collective over `transport`. Meaningful on rank 0; other ranks get
// their own times only.
ConfigResult run_config(const Options& options, const Workload& workload, int64_t lora_rank, const std::string& algorithm,
                        flb::comm::MpiTransport& transport);

}  // namespace flcomm
