// Dropouts, deadlines and over-selection: which of a round's sampled
// clients the server uses, as pure functions of the seed and the clients'
// virtual times (sim/virtual_clock.h), so every rank decides the same for
// any number of ranks.
//
// A round samples sampled_count(K, F, N) = min(N, round(K (1 + F))) clients
// (--clients-per-round K, --over-select F). Each of them, in order:
//
//   dropped   drops_out(seed, client, round, p): it downloads, then fails
//             before uploading (--dropout-prob p). It is not trained.
//   offline   it goes offline (sim/availability.h) before its upload has
//             arrived, and no later than the deadline: lost. The server
//             notices when it leaves.
//   late      its upload would arrive after the deadline (done_s > D,
//             --deadline D): discarded.
//   surplus   it arrives in time, but the server already has K uploads
//             (arrivals ordered by done_s, ties by client id): discarded.
//   arrived   otherwise: the server aggregates its upload.
//
// The server waits for the K-th arrival; when fewer than K arrive, until
// it has heard of every client: the deadline if some client was late,
// else the last arrival or departure (a dropped client is assumed to be
// noticed at once). With no arrival, no departure and no late client the
// round lasts 0 virtual seconds.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace flb::sim {

enum class ClientStatus : int64_t { kArrived = 0, kDropped = 1, kLate = 2, kSurplus = 3, kOffline = 4 };

// min(clients, round(per_round * (1 + over_select))).
int64_t sampled_count(int64_t per_round, double over_select, int64_t clients);

// Whether `client` drops out of `round` (stream (seed, dropout, client,
// round), one uniform draw < probability).
bool drops_out(uint64_t seed, int64_t client, int64_t round, double probability);

struct ArrivalRule {
  int64_t wanted = 0;                                           // K: the server stops waiting at the K-th arrival
  double deadline_s = std::numeric_limits<double>::infinity();  // D
};

struct Arrivals {
  std::vector<ClientStatus> status;  // one per client, in the order given
  double duration_s = 0;             // how long the server waits
  int64_t count(ClientStatus s) const;
};

// `clients` and `done_s` are the round's sampled clients and their
// virtual done_s; `dropped[i]` says client i dropped out (its done_s is
// ignored); `leaves_s[i]`, when given, is when client i goes offline
// (from the round's start; +infinity when it stays online).
Arrivals decide_arrivals(const std::vector<int64_t>& clients, const std::vector<double>& done_s,
                         const std::vector<bool>& dropped, const ArrivalRule& rule,
                         const std::vector<double>& leaves_s = {});

}  // namespace flb::sim
