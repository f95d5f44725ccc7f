// Which rank hosts which client, and which clients take part in a round.
// Both are pure functions of their arguments: every rank computes the same
// answer with no messages.
#pragma once

#include <cstdint>
#include <vector>

namespace flb::sim {

// Block placement: rank r hosts clients [r*N/R, (r+1)*N/R), so a client's
// persistent state stays on one rank for the whole run.
int owner_rank(int64_t client, int64_t clients, int ranks);

// How many clients rank r hosts: (r+1)*N/R - r*N/R.
int64_t hosted_count(int rank, int64_t clients, int ranks);

// The m clients of `round`, ascending, drawn without replacement from the
// stream (seed, sampling, round).
std::vector<int64_t> sample_clients(uint64_t seed, int64_t round, int64_t clients, int64_t m);

}  // namespace flb::sim
