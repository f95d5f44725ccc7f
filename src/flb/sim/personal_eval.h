// Personalised evaluation (--personal-fraction; issue 13, item 4).
//
// Each client holds a slice of its own data out of training
// (Task::client_held_out, data::hold_out). At every evaluation each rank
// scores the clients it hosts on their slices, twice: with the global
// model, and with the client's personalised model, which is the global
// state with the algorithm's per-client state loaded
// (Algorithm::load_client: pFedLoRU's private pair). An algorithm without
// such state (Algorithm::personalises() false) gets the global numbers in
// both columns, without a second pass. Every client is scored, sampled
// this round or not: a client that never trained has no private state
// yet, so its personalised model is the global one.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "flb/comm/transport.h"
#include "flb/sim/results_schema.h"
#include "flb/sim/setup.h"

namespace flb::sim {

// Collective: rank 0 gets one row per client with a held-out slice, in
// client order (for any number of ranks); the other ranks an empty vector.
// Leaves the model holding the global state. A failure on any rank throws
// CollectiveError on every rank (collectively.h).
std::vector<ClientEvalRow> evaluate_clients(int64_t round, RunSetup& setup, comm::Transport& transport,
                                            int64_t clients);

// The mean over clients (each client counts once, whatever its slice's
// size, as personalised federated learning reports it) of
// (personal_accuracy, global_accuracy); NaN for no rows.
std::pair<double, double> mean_client_accuracy(const std::vector<ClientEvalRow>& rows);

}  // namespace flb::sim
