// One federated round, as the protocol of DESIGN.md draws it:
//
//   start_round     under availability windows (sim/availability.h): when
//                   the round starts and who is online then
//   sample          the round's clients, the same list on every rank
//   train_and_encode  (round_training.cc) each rank trains its sampled clients from the global
//                   state and encodes their uploads into one buffer; each
//                   client's ClientRecord (rank, samples, loss, bytes, ...)
//   exchange_records  every rank's records to rank 0
//   settle_arrivals rank 0 times each client (sim/virtual_clock.h) and
//                   decides whose upload is used (sim/arrivals.h: dropouts,
//                   --deadline, --over-select); every rank learns it and
//                   settles its clients' state (Algorithm::settle_upload).
//                   With no arrival the round skips to evaluate.
//   gather          every rank's uploads to rank 0
//   decode_and_aggregate  rank 0: decode (validated) the used uploads,
//                   aggregate in client-id order, encode the broadcast
//     (--aggregation hierarchical, sim/hierarchical.h: reduce, in which
//     every rank decodes and sums its own uploads and the sums are
//     reduced to rank 0, then aggregate_reduced on their mean)
//   broadcast_and_apply   the broadcast to every rank; every rank applies
//                   it to its global state
//   evaluate        rank 0, every --eval-every rounds and after the last
//   write_rows      rank 0: the ledger learns the broadcast (sim/virtual_clock.h); the
//                   /clients, /eval and /rounds rows (rank 0's), through
//                   the RowSink
//
// Collective over the transport: every rank runs every round. Nothing here
// sees MPI or HDF5: with a comm::LoopbackTransport and an in-memory RowSink
// whole rounds run in a unit test (tests/unit/round_test.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "flb/comm/transport.h"
#include "flb/compress/payload.h"
#include "flb/core/config.h"
#include "flb/core/timer.h"
#include "flb/sim/hierarchical.h"
#include "flb/sim/results_schema.h"
#include "flb/sim/setup.h"

namespace flb::sim {

class Round {
 public:
  // `setup`, `transport` and `sink` must outlive the Round; `setup` is the
  // rank's own (sim/setup.h).
  Round(const RunConfig& config, RunSetup& setup, comm::Transport& transport, RowSink& sink);

  // Collective. Runs round `round` (0-based) through every step and writes
  // its rows. Throws flb::CollectiveError on every rank when rank 0 stops
  // the run (a diverged client, a malformed upload under --on-bad-upload
  // stop, no valid upload); the message is rank 0's. Returns the round's
  // row: complete on rank 0; on other ranks only their own share
  // (bytes_down, their times).
  RoundRow run(int64_t round);

  // Rank 0: the last evaluation's mean in-domain loss and accuracy (NaN before any).
  double last_test_loss() const { return last_test_loss_; }
  double last_test_accuracy() const { return last_test_accuracy_; }
  // Bytes of per-client state this rank holds: its clients' sample lists
  // and the algorithm's client state.
  int64_t client_state_bytes() const;

 private:
  struct LocalUploads {
    std::vector<uint8_t> bytes;          // this rank's uploads, one after another
    std::vector<ClientRecord> records;   // one per client trained here, ascending id
  };
  struct AtRoot {
    comm::Gathered uploads;              // every rank's upload buffer (hierarchical: this rank's)
    RankSum reduced;                     // hierarchical: the sum over ranks (rank 0)
    comm::Gathered folds;                // hierarchical, folding algorithms: every rank's packed fold (rank 0)
    std::string stop;                    // hierarchical, rank 0: why a rank refused its uploads
  };

  void start_round(int64_t round, RoundRow& row);
  std::vector<int64_t> sample(int64_t round) const;
  LocalUploads train_and_encode(int64_t round, const std::vector<int64_t>& sampled, RoundRow& row);
  std::vector<ClientRecord> exchange_records(const std::vector<ClientRecord>& mine, RoundRow& row);
  std::vector<int64_t> settle_arrivals(int64_t round, const std::vector<int64_t>& sampled,
                                       std::vector<ClientRecord>& records, std::vector<ClientRecord>& mine, RoundRow& row);
  AtRoot gather(LocalUploads mine, RoundRow& row);
  AtRoot reduce(LocalUploads mine, const std::vector<int64_t>& sampled, const std::vector<int64_t>& used,
                const std::vector<ClientRecord>& records, int64_t round,
                RoundRow& row);
  std::vector<uint8_t> decode_and_aggregate(int64_t round, const std::vector<int64_t>& sampled,
                                            const std::vector<int64_t>& used, const std::vector<ClientRecord>& records,
                                            const AtRoot& in, RoundRow& row);
  std::vector<uint8_t> aggregate_reduced(int64_t round, const std::vector<ClientRecord>& records, const AtRoot& in,
                                         RoundRow& row);
  std::vector<uint8_t> server_step(int64_t round, const std::function<compress::Payload()>& step);
  void broadcast_and_apply(int64_t round, std::vector<uint8_t>& download, RoundRow& row);
  bool evaluates(int64_t round) const;
  std::vector<EvalRow> evaluate(int64_t round, RoundRow& row);
  void stop_if_diverged(int64_t round);
  void write_rows(std::vector<ClientRecord>& records, const std::vector<EvalRow>& evals, RoundRow& row);
  void time_clients(std::vector<ClientRecord>& records);
  void finish_clock(const std::vector<ClientRecord>& records, RoundRow& row);

  // Pieces of the steps.
  LocalResult train_client(const algo::ClientContext& ctx);
  std::vector<LocalResult> train_group(const std::vector<algo::ClientContext>& group);
  void check_losses(const std::vector<ClientRecord>& records) const;
  void keep_diagnostics(int64_t round);
  std::vector<algo::Upload> decode_uploads(const comm::Gathered& uploads, const std::vector<int64_t>& sampled,
                                           const std::vector<int64_t>& used, int64_t round, RoundRow& row);

  const RunConfig& config_;
  RunSetup& setup_;
  comm::Transport& transport_;
  RowSink& sink_;
  int64_t hosted_sample_bytes_ = 0;
  std::string stop_reason_;  // rank 0: why decode_and_aggregate produced no broadcast
  std::string diverged_;     // rank 0: the evaluation found a loss that is not finite (evaluate)
  std::vector<DiagnosticRow> diagnostics_;  // rank 0: this round's /server_diagnostics rows
  std::vector<ClientEvalRow> client_evals_;  // rank 0: this round's /client_eval rows (--personal-fraction)
  double last_test_loss_, last_test_accuracy_;
  // Availability windows only (start_round): the round's virtual start,
  // the clients online then (every rank), when each sampled client goes
  // offline from the start (rank 0, time_clients; records' order).
  double round_start_s_ = 0;
  std::vector<int64_t> online_;
  std::vector<double> leaves_s_;
  Timer round_clock_;        // since the start of the round (wall_s)
  // This rank's upload buffer, handed from round to round (train_and_encode
  // fills it, gather moves it, run() takes it back): its capacity stays, so
  // a round's uploads neither regrow it nor touch fresh pages.
  std::vector<uint8_t> upload_buffer_;
  // The broadcast's buffer, handed on the same way (decode_and_aggregate
  // fills it on rank 0, bcast fills it elsewhere): flcomm measured a fresh
  // one costing 4-7x a memcpy of its bytes at Llama-3.2-3B size.
  std::vector<uint8_t> download_buffer_;
};

}  // namespace flb::sim
