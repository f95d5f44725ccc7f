#include "flb/sim/memory_preflight.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "flb/core/collective_error.h"

namespace flb::sim {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

// The smallest limit - usage of the cgroup at `dir` and its ancestors up to
// `mount` (-1 when none has a limit). `limit` and `usage` are the file
// names of the cgroup version.
int64_t cgroup_headroom(const std::string& mount, std::string rel, const char* limit, const char* usage) {
  int64_t best = -1;
  for (;;) {
    const std::string dir = mount + rel;
    const int64_t max = parse_cgroup_bytes(read_file(dir + "/" + limit));
    const int64_t used = parse_cgroup_bytes(read_file(dir + "/" + usage));
    if (max >= 0 && used >= 0) best = best < 0 ? std::max<int64_t>(0, max - used) : std::min(best, max - used);
    if (rel.empty() || rel == "/") return best;
    rel = rel.substr(0, rel.find_last_of('/'));
  }
}

// The process's memory cgroup, as (mount, path below it, version), from
// /proc/self/cgroup.
struct CgroupPath {
  std::string mount, rel;
  int version = 0;  // 0: none found
};

CgroupPath own_cgroup() {
  std::istringstream in(read_file("/proc/self/cgroup"));
  CgroupPath v2;
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2 = {"/sys/fs/cgroup", path, 2};
    std::istringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');)
      if (c == "memory") return {"/sys/fs/cgroup/memory", path, 1};
  }
  return v2;
}

}  // namespace

RankNeed estimate_need(const RankShape& s) {
  RankNeed n;
  // A client gets state when it is first sampled: at most every hosted
  // client, and at most those holding it now plus every sample to come
  // (rounds left x sampled per round: at most 10^7 x 10^8, no overflow).
  const int64_t holding = s.client_state_bound > 0 ? s.client_state_held / s.client_state_bound : 0;
  const int64_t with_state = std::min(s.hosted_clients, holding + s.rounds_left * s.sampled_per_round);
  n.client_state = std::max<int64_t>(0, with_state * s.client_state_bound - s.client_state_held);
  n.uploads = std::min(s.hosted_clients, s.sampled_per_round) * s.dense_upload_bytes;
  if (s.root)
    n.server = s.hierarchical ? 2 * s.trainable_bytes  // the reduced float64 sums
                              : s.sampled_per_round * (s.dense_upload_bytes + s.trainable_bytes) + s.trainable_bytes;
  return n;
}

int64_t parse_mem_available(const std::string& meminfo) {
  std::istringstream in(meminfo);
  for (std::string line; std::getline(in, line);) {
    long long kib = 0;
    if (std::sscanf(line.c_str(), "MemAvailable: %lld kB", &kib) == 1) return static_cast<int64_t>(kib) * 1024;
  }
  return -1;
}

int64_t parse_cgroup_bytes(const std::string& text) {
  long long v = -1;
  char rest = 0;
  // "max" (v2 unlimited), an empty or unreadable file: -1. v1's "unlimited"
  // is a huge number, which the min over levels and MemAvailable absorb.
  if (std::sscanf(text.c_str(), "%lld%c", &v, &rest) < 1 || v < 0) return -1;
  return static_cast<int64_t>(v);
}

NodeMemory read_node_memory() {
  NodeMemory m;
  m.available = parse_mem_available(read_file("/proc/meminfo"));
  m.source = "MemAvailable in /proc/meminfo";
  const CgroupPath cg = own_cgroup();
  if (cg.version == 0) return m;
  const int64_t headroom = cg.version == 2 ? cgroup_headroom(cg.mount, cg.rel, "memory.max", "memory.current")
                                           : cgroup_headroom(cg.mount, cg.rel, "memory.limit_in_bytes",
                                                             "memory.usage_in_bytes");
  if (headroom >= 0 && (m.available < 0 || headroom < m.available)) {
    m.available = headroom;
    m.source = cg.version == 2 ? "the job's cgroup (memory.max - memory.current under " + cg.mount + cg.rel + ")"
                               : "the job's cgroup (memory.limit_in_bytes - memory.usage_in_bytes under " + cg.mount +
                                     cg.rel + ")";
  }
  return m;
}

std::string check_memory(comm::Transport& t, const RankNeed& need, const NodeMemory& node) {
  const std::vector<std::string> hosts = t.hostnames();
  const std::vector<uint64_t> state = t.allgather(static_cast<uint64_t>(need.client_state));
  const std::vector<uint64_t> uploads = t.allgather(static_cast<uint64_t>(need.uploads));
  const std::vector<uint64_t> server = t.allgather(static_cast<uint64_t>(need.server));
  const std::vector<uint64_t> available = t.allgather(static_cast<uint64_t>(node.available + 1));  // 0: unknown
  // Per node (by host name): the three parts summed over its ranks.
  struct Node {
    RankNeed need;
    int ranks = 0, first_rank = 0;
    int64_t available = -1;
  };
  std::map<std::string, Node> nodes;
  for (size_t r = 0; r < hosts.size(); ++r) {
    Node& n = nodes[hosts[r]];
    if (n.ranks++ == 0) n.first_rank = static_cast<int>(r);
    n.need.client_state += static_cast<int64_t>(state[r]);
    n.need.uploads += static_cast<int64_t>(uploads[r]);
    n.need.server += static_cast<int64_t>(server[r]);
    n.available = static_cast<int64_t>(available[r]) - 1;  // the same for every rank of a node
  }
  // The node that is shortest of memory decides; every rank finds the same one.
  const Node* worst = nullptr;
  std::string host;
  for (const auto& [name, n] : nodes)
    if (n.available >= 0 && (!worst || n.available - n.need.total() < worst->available - worst->need.total())) {
      worst = &n;
      host = name;
    }
  if (!worst) return t.rank() == 0 ? "memory preflight: the available memory is unknown here; not checked" : "";
  std::string source = node.source;  // that node's, for the message
  t.bcast_text(source, worst->first_rank);
  std::ostringstream s;
  s << "memory preflight: node " << host << " needs about " << gib(worst->need.total()) << " more for its "
    << worst->ranks << " rank(s) (" << gib(worst->need.client_state) << " per-client state, " << gib(worst->need.uploads)
    << " one round's uploads, " << gib(worst->need.server) << " server buffers) and has " << gib(worst->available)
    << " available (" << source << ")";
  if (worst->need.total() > worst->available)
    throw CollectiveError(s.str() + ". The run would not fit: give the job more memory or nodes, host fewer clients "
                                    "per rank (more ranks, on more nodes), or pass --skip-memory-check if the "
                                    "estimate is wrong (README, Reliability)");
  return t.rank() == 0 ? s.str() : "";
}

}  // namespace flb::sim
