// The rows flbench writes each round (results/README.md documents them),
// and the sink a round writes them to.
#pragma once

#include <cstdint>
#include <vector>

#include "flb/algo/server_diagnostics.h"
#include "flb/metrics/results_file.h"

namespace flb::sim {

// The root attribute schema_version: changes whenever a name or meaning in
// results/README.md changes. 2: /rounds/bytes_up became bytes_gathered and
// /clients/bytes_up became upload_bytes (same values). 3: the /memory table.
// 4: /rounds/bytes_moved. 5: virtual time and the clients' downloads
// (/rounds/virtual_s, virtual_clock_s; /clients/download_bytes ... virtual_done_s).
// 6: dropouts, deadlines, over-selection (/rounds/arrived .. surplus,
// /clients/status; virtual_s is how long the server waited).
// 7: availability windows (/rounds/online, offline, idle_s; /clients/status
// 4 offline; virtual_s includes idle_s), /rounds/clipped, /clients/train_s.
// 8: /server_diagnostics (FedSRD's server step per round and layer), /eval/loss_se,
// the validation split (/eval/validation, /rounds/val_loss, val_accuracy).
// 9: personalised evaluation (/client_eval, /rounds/personal_accuracy,
// personal_global_accuracy).
constexpr int64_t kSchemaVersion = 9;

struct RoundRow {
  int64_t round = 0;
  double wall = 0, train = 0, encode = 0, gather_wait = 0, gather = 0, aggregate = 0, bcast = 0, apply = 0, eval = 0, io = 0;
  int64_t bytes_gathered = 0;  // rank 0: every byte gatherv delivered (= sum of the ranks' buffers)
  int64_t bytes_moved = 0;     // bytes that travelled to rank 0: = bytes_gathered (central), the ranks' sums (hierarchical)
  int64_t bytes_down = 0;      // the broadcast's bytes
  int64_t clients = 0, rejected = 0, parts = 0, scalar_parts = 0;
  int64_t clipped = 0;         // accepted uploads the server scaled down (--clip-update-norm)
  double train_loss = 0, test_loss = 0, test_accuracy = 0;
  double val_loss = 0, val_accuracy = 0;  // the validation split's (NaN: none, or not evaluated)
  // --personal-fraction: mean over clients of their own slice's accuracy,
  // under their personalised model and under the global one (NaN: none, or not evaluated).
  double personal_accuracy = 0, personal_global_accuracy = 0;
  int64_t rss_max_bytes = 0, client_state_bytes = 0, server_state_bytes = 0;
  double virtual_s = 0, virtual_clock_s = 0;  // rank 0: the round's virtual duration, the clock after it
  int64_t arrived = 0, dropped = 0, late = 0, surplus = 0;  // the sampled clients by status (sim/arrivals.h)
  int64_t offline = 0;         // sampled clients that went offline before their upload arrived (status 4)
  int64_t online = 0;          // clients online at the round's start (sim/availability.h)
  double idle_s = 0;           // rank 0: virtual seconds the server waited for a client to come online
};

// One sampled client of a round: made by the rank that trains it,
// carried to rank 0 with the uploads (sim/round.cc) and written there as
// its /clients row. Plain data (gathered as bytes between ranks of one build).
struct ClientRecord {
  int64_t round = 0, client = 0;
  int64_t rank = 0;          // MPI rank that hosted and trained it
  int64_t samples = 0, steps = 0;
  double loss = 0;           // mean local training loss
  int64_t upload_bytes = 0;  // its encoded upload (wire format), without the transport's framing
  int64_t nonzeros = 0, scalar_parts = 0;
  // Rank 0 fills these in from the ledger (sim/virtual_clock.h).
  int64_t download_bytes = 0, catch_up_bytes = 0;
  double virtual_down_s = 0, virtual_compute_s = 0, virtual_up_s = 0, virtual_done_s = 0;
  int64_t status = 0;        // a sim::ClientStatus: arrived, dropped, late, surplus, offline (sim/arrivals.h)
  double train_s = 0;        // wall seconds of its local training on its rank (not reproducible)
};

struct EvalRow {
  int64_t round = 0, domain = 0;
  bool in_domain = true;
  double loss = 0, accuracy = 0;
  double loss_se = 0;
  bool validation = false;
};

// One layer's server step of one round (/server_diagnostics, rank 0).
struct DiagnosticRow {
  int64_t round = 0;
  algo::ServerDiagnostic step;
};

// One client's own held-out slice at one evaluation (/client_eval,
// --personal-fraction): scored by the global model and by the client's
// personalised model (the global one for an algorithm without per-client
// state, Algorithm::personalises).
struct ClientEvalRow {
  int64_t round = 0, client = 0;
  int64_t items = 0;  // held-out samples
  double global_loss = 0, global_accuracy = 0;
  double personal_loss = 0, personal_accuracy = 0;
};

// One round's detail rows, for RowSink::write_details (rank 0 holds them all).
struct RoundDetails {
  const std::vector<ClientRecord>& clients;        // /clients
  const std::vector<EvalRow>& evals;               // /eval
  const std::vector<DiagnosticRow>& diagnostics;   // /server_diagnostics
  const std::vector<ClientEvalRow>& client_evals;  // /client_eval
};

// One rank's memory at the end of the run (/memory, one row per rank).
struct MemoryRow {
  int64_t rank = 0;
  int64_t base = 0;          // frozen parameters (the shared base), in their dtype
  int64_t adapters = 0;      // trained parameters (LoRA factors, trained biases)
  int64_t optimizer = 0;     // the local optimiser's state
  int64_t activations = 0;   // measured: largest (peak - live before) of one training step
  int64_t client_state = 0;  // per-client state of the clients this rank hosts (sample lists + algorithm)
};

std::vector<metrics::ColumnSpec> round_columns();
std::vector<metrics::ColumnSpec> memory_columns();
metrics::Rows to_rows(const std::vector<MemoryRow>& rows);
std::vector<metrics::ColumnSpec> eval_columns();
std::vector<metrics::ColumnSpec> client_columns();
std::vector<metrics::ColumnSpec> diagnostic_columns();
std::vector<metrics::ColumnSpec> client_eval_columns();

metrics::Rows to_rows(const std::vector<RoundRow>& rows);
metrics::Rows to_rows(const std::vector<ClientRecord>& rows);
metrics::Rows to_rows(const std::vector<EvalRow>& rows);
metrics::Rows to_rows(const std::vector<DiagnosticRow>& rows);
metrics::Rows to_rows(const std::vector<ClientEvalRow>& rows);

// Where a round's rows go: the HDF5 results file (sim/results_writer.h) or,
// in tests, memory. Both calls are collective.
class RowSink {
 public:
  virtual ~RowSink() = default;
  // This rank's /clients, /eval, /server_diagnostics and /client_eval rows (rank 0 holds all of them).
  virtual void write_details(const RoundDetails& details) = 0;
  // The /rounds row (rank 0; null elsewhere); then the round is flushed.
  virtual void write_round(const RoundRow* row) = 0;
};

}  // namespace flb::sim
