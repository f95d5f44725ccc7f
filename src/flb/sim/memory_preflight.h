// Before round 1: will the run fit in memory? Estimates what each rank will
// come to hold beyond what it holds now, sums it per node and compares it
// with what the node, or the job's cgroup, still allows; refuses a run that
// would not fit, with the numbers, instead of letting it be killed hours
// later.
//
// What is counted (host memory, float32 tensors, the wire format's dense
// size as the bound of an upload):
//   client state    the algorithm's per-client state at its largest
//                   (Algorithm::client_state_bytes_bound: LBGM's look-back
//                   gradients and residuals, top-k's residuals, pFedLoRU's
//                   private pairs) for every client the rank hosts that the
//                   remaining rounds can sample (at most rounds left x
//                   sampled per round more than hold state now), less what
//                   it holds already (a resumed run);
//   uploads         one round's encoded uploads of the rank's sampled
//                   clients, at most min(hosted, sampled) of them;
//   server          rank 0: the gathered uploads of a round, their decoded
//                   copies and the aggregate (central), or the ranks'
//                   float64 sums (hierarchical).
// Not counted: temporaries inside an algorithm's server step (FedSRD's
// full-rank reconstruction of one layer at a time), LibTorch's workspace,
// activations (measured in /memory once a step has run). On a GPU the
// tensors live in device memory, which this check does not read.
//
// What is available: the smaller of /proc/meminfo's MemAvailable and,
// for the cgroup the process runs in and each of its ancestors, limit
// minus usage (cgroup v2 memory.max - memory.current; v1
// memory.limit_in_bytes - memory.usage_in_bytes): how Slurm and
// containers bound a job.
#pragma once

#include <cstdint>
#include <string>

#include "flb/comm/transport.h"

namespace flb::sim {

// The numbers one rank's estimate is made from.
struct RankShape {
  int64_t hosted_clients = 0;
  int64_t sampled_per_round = 0;       // clients the server samples each round
  int64_t rounds_left = 0;             // rounds still to run
  int64_t trainable_bytes = 0;         // the trained tensors, float32
  int64_t dense_upload_bytes = 0;      // an upload in full, wire format
  int64_t client_state_bound = 0;      // Algorithm::client_state_bytes_bound
  int64_t client_state_held = 0;       // Algorithm::client_state_bytes now
  bool root = false;
  bool hierarchical = false;
};

struct RankNeed {
  int64_t client_state = 0;
  int64_t uploads = 0;
  int64_t server = 0;
  int64_t total() const { return client_state + uploads + server; }
};

RankNeed estimate_need(const RankShape& shape);

struct NodeMemory {
  int64_t available = -1;  // bytes; -1: unknown (then nothing is refused)
  std::string source;      // what bounds it, for the message
};

// Parsers, separate for the tests. MemAvailable in bytes (-1: absent); a
// cgroup limit file's value in bytes (-1: "max", unlimited, or unreadable).
int64_t parse_mem_available(const std::string& meminfo);
int64_t parse_cgroup_bytes(const std::string& text);

// This process's node: MemAvailable and its cgroups' headroom.
NodeMemory read_node_memory();

// Collective. Every rank passes its need and its node's memory; ranks are
// grouped into nodes by host name. Throws flb::CollectiveError on every
// rank when a node's summed need exceeds what it has available; otherwise
// returns rank 0's one-line summary (empty on other ranks).
std::string check_memory(comm::Transport& transport, const RankNeed& need, const NodeMemory& node);

}  // namespace flb::sim
