#include "flb/sim/round.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <type_traits>

#include "flb/compress/wire_format.h"
#include "flb/sim/arrivals.h"
#include "flb/core/collective_error.h"
#include "flb/core/watchdog.h"
#include "flb/sim/evaluation.h"
#include "flb/sim/hostile_upload.h"
#include "flb/sim/personal_eval.h"
#include "flb/sim/placement.h"
#include "flb/sim/update_clipping.h"
#include "flb/compress/malformed_upload.h"

namespace flb::sim {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- uploads in the gathered buffers: each rank's payloads back to back,
// each header carrying its client id and length (compress/wire_format.h) ---

// Every rank's buffer split into its uploads, with the sending rank. A
// buffer that is not a sequence of whole uploads (a header that is wrong
// or overruns it) keeps the uploads before the break, and `on_break` gets
// the error: what follows a broken header cannot be found again.
std::vector<std::pair<int, compress::UploadView>> split_uploads(
    const comm::Gathered& g, const std::function<void(const MalformedUpload&)>& on_break) {
  std::vector<std::pair<int, compress::UploadView>> out;
  for (size_t r = 0; r + 1 < g.offsets.size(); ++r) {
    const int rank = static_cast<int>(r);
    std::optional<MalformedUpload> broken;
    for (const compress::UploadView& u :
         compress::split_uploads(g.bytes.data() + g.offsets[r], g.offsets[r + 1] - g.offsets[r], rank, &broken))
      out.push_back({rank, u});
    if (broken) on_break(*broken);
  }
  return out;
}

// ---- records between ranks ----------------------------------------------

static_assert(std::is_trivially_copyable_v<ClientRecord>, "ClientRecord travels as bytes");

std::vector<uint8_t> to_bytes(const std::vector<ClientRecord>& records) {
  std::vector<uint8_t> b(records.size() * sizeof(ClientRecord));
  if (!b.empty()) std::memcpy(b.data(), records.data(), b.size());
  return b;
}

std::vector<ClientRecord> records_of(const std::vector<uint8_t>& b) {
  std::vector<ClientRecord> records(b.size() / sizeof(ClientRecord));
  if (!records.empty()) std::memcpy(records.data(), b.data(), records.size() * sizeof(ClientRecord));
  return records;
}

bool arrived(const ClientRecord& r) { return r.status == static_cast<int64_t>(ClientStatus::kArrived); }

// Sample-weighted mean of the arrived clients' local losses, in client-id order.
double train_loss(const std::vector<ClientRecord>& records) {
  double weighted = 0, samples = 0;
  for (const ClientRecord& r : records) {
    if (!arrived(r)) continue;
    weighted += double(r.samples) * r.loss;
    samples += double(r.samples);
  }
  return samples > 0 ? weighted / samples : kNaN;
}

// Why the run stops on a malformed upload (--on-bad-upload stop).
std::string malformed_stop(int64_t round, const std::string& what) {
  return "round " + std::to_string(round + 1) + ": " + what +
         " (the run stops; --on-bad-upload skip drops malformed uploads instead)";
}

}  // namespace

Round::Round(const RunConfig& config, RunSetup& setup, comm::Transport& transport, RowSink& sink)
    : config_(config), setup_(setup), transport_(transport), sink_(sink), last_test_loss_(kNaN), last_test_accuracy_(kNaN) {
  for (int64_t c = 0; c < config_.clients; ++c)
    if (owner_rank(c, config_.clients, transport_.size()) == transport_.rank())
      hosted_sample_bytes_ += setup_.task->client_stored_bytes(c);
  if (transport_.rank() == 0) setup_.algorithm->enable_server_diagnostics();  // /server_diagnostics
}

int64_t Round::client_state_bytes() const { return hosted_sample_bytes_ + setup_.algorithm->client_state_bytes(); }

RoundRow Round::run(int64_t round) {
  RoundRow row;
  row.round = round;
  round_clock_.reset();
  start_round(round, row);  // phase "sample" (note_round)
  const std::vector<int64_t> sampled = sample(round);
  row.clients = static_cast<int64_t>(sampled.size());
  const bool hierarchical = config_.aggregation == "hierarchical";
  note_phase("train");
  LocalUploads mine = train_and_encode(round, sampled, row);
  note_phase("exchange");
  std::vector<ClientRecord> records = exchange_records(mine.records, row);
  note_phase("settle");
  const std::vector<int64_t> used = settle_arrivals(round, sampled, records, mine.records, row);
  if (row.arrived > 0) {  // every rank knows the counts
    note_phase("gather");
    tamper_if_armed({transport_.rank(), transport_.size(), round, config_.clients, sampled}, mine.bytes);  // tests only
    AtRoot at_root = hierarchical ? reduce(std::move(mine), sampled, used, records, round, row) : gather(std::move(mine), row);
    note_phase("aggregate");
    std::vector<uint8_t> download = hierarchical ? aggregate_reduced(round, records, at_root, row)
                                                 : decode_and_aggregate(round, sampled, used, records, at_root, row);
    note_phase("broadcast");
    broadcast_and_apply(round, download, row);
    download_buffer_ = std::move(download);
    upload_buffer_ = std::move(at_root.uploads.bytes);
  } else {  // no upload arrived: the global state stands, nothing is broadcast
    upload_buffer_ = std::move(mine.bytes);
  }
  note_phase("evaluate");
  const std::vector<EvalRow> evals = evaluate(round, row);
  note_phase("write");
  write_rows(records, evals, row);
  stop_if_diverged(round);  // after the rows are written: the file shows the round
  return row;
}

// 0. When the round starts on the virtual clock, and who is online then
//    (sim/availability.h): only under a trace with availability windows,
//    whose clients may all be offline when the last round ended; the
//    server then idles until the first comes online. Rank 0 keeps the
//    clock; every rank learns the start and computes the same online list.
void Round::start_round(int64_t round, RoundRow& row) {
  const SystemModel& systems = setup_.clock.systems();
  if (!systems.has_windows()) {
    online_.clear();
    row.online = config_.clients;
    return;
  }
  std::string start;  // hexadecimal float: the same bits on every rank
  if (transport_.rank() == 0) {
    char text[64];
    std::snprintf(text, sizeof text, "%a", systems.next_online(setup_.clock.elapsed_s()));
    start = text;
  }
  transport_.bcast_text(start);
  round_start_s_ = std::strtod(start.c_str(), nullptr);
  if (!std::isfinite(round_start_s_))
    throw CollectiveError("round " + std::to_string(round + 1) + ": no client of the trace is online at or after virtual second " +
                          std::to_string(setup_.clock.elapsed_s()) +
                          ": its availability windows have ended (make them periodic, @PERIOD, or run fewer rounds)");
  row.idle_s = round_start_s_ - setup_.clock.elapsed_s();  // rank 0's clock; other ranks do not report it
  online_ = systems.online_at(round_start_s_);
  row.online = static_cast<int64_t>(online_.size());
}

// 1. The round's clients: the same list on every rank, from (seed, round).
//    Under --over-select more than --clients-per-round (sim/arrivals.h);
//    under availability windows only clients online at the round's start,
//    all of them when fewer are online.
std::vector<int64_t> Round::sample(int64_t round) const {
  const int64_t wanted = sampled_count(config_.clients_per_round, config_.over_select, config_.clients);
  if (!setup_.clock.systems().has_windows()) return sample_clients(config_.seed, round, config_.clients, wanted);
  const int64_t online = static_cast<int64_t>(online_.size());
  std::vector<int64_t> sampled = sample_clients(config_.seed, round, online, std::min(wanted, online));
  for (int64_t& i : sampled) i = online_[static_cast<size_t>(i)];  // ascending positions, ascending ids
  return sampled;
}

// 3. Every rank's records to rank 0 (rank order is client-id order: ranks
//    host ascending blocks of clients). They go before the uploads: their
//    gather is where rank 0 waits for the slowest rank, so gather_s times
//    the uploads' transfer alone.
std::vector<ClientRecord> Round::exchange_records(const std::vector<ClientRecord>& mine, RoundRow& row) {
  Timer phase;
  std::vector<ClientRecord> records = records_of(transport_.gather_small(to_bytes(mine)).bytes);
  row.gather_wait = phase.seconds();
  return records;
}

// 4. Rank 0 times every client (sim/virtual_clock.h) and decides which
//    uploads the server uses (sim/arrivals.h); every rank learns the
//    statuses of its own clients (only when dropouts, a deadline or
//    over-selection can make them differ) and settles their state.
//    Returns the clients whose uploads are used, ascending; sets the
//    counts (every rank) and virtual_s (rank 0).
std::vector<int64_t> Round::settle_arrivals(int64_t round, const std::vector<int64_t>& sampled,
                                            std::vector<ClientRecord>& records, std::vector<ClientRecord>& mine,
                                            RoundRow& row) {
  std::string statuses;  // one digit per sampled client, ascending id
  if (transport_.rank() == 0) {
    time_clients(records);
    std::vector<int64_t> clients;
    std::vector<double> done_s;
    std::vector<bool> dropped;
    for (const ClientRecord& r : records) {
      clients.push_back(r.client);
      done_s.push_back(r.virtual_done_s);
      dropped.push_back(r.status == static_cast<int64_t>(ClientStatus::kDropped));
    }
    ArrivalRule rule{config_.clients_per_round, std::numeric_limits<double>::infinity()};
    if (config_.deadline_s > 0) rule.deadline_s = config_.deadline_s;
    const Arrivals a = decide_arrivals(clients, done_s, dropped, rule, leaves_s_);
    row.virtual_s = row.idle_s + a.duration_s;
    for (size_t i = 0; i < records.size(); ++i) {
      records[i].status = static_cast<int64_t>(a.status[i]);
      statuses += static_cast<char>('0' + records[i].status);
    }
  }
  const bool may_differ = config_.dropout_prob > 0 || config_.deadline_s > 0 || config_.over_select > 0 ||
                          setup_.clock.systems().has_windows();
  if (may_differ) transport_.bcast_text(statuses);
  else statuses.assign(static_cast<size_t>(row.clients), '0');
  size_t next = 0;
  std::vector<int64_t> used;
  for (int64_t c : sampled) {
    const auto status = static_cast<ClientStatus>(statuses.at(next++) - '0');
    row.arrived += status == ClientStatus::kArrived;
    row.dropped += status == ClientStatus::kDropped;
    row.late += status == ClientStatus::kLate;
    row.surplus += status == ClientStatus::kSurplus;
    row.offline += status == ClientStatus::kOffline;
    if (status == ClientStatus::kArrived) used.push_back(c);
  }
  for (ClientRecord& r : mine) {
    if (r.status == static_cast<int64_t>(ClientStatus::kDropped)) continue;  // never encoded
    const bool is_used = std::binary_search(used.begin(), used.end(), r.client);
    setup_.algorithm->settle_upload({r.client, round, r.samples}, is_used);
  }
  return used;
}

// 5. Every rank's uploads to rank 0.
Round::AtRoot Round::gather(LocalUploads mine, RoundRow& row) {
  AtRoot at;
  Timer phase;
  at.uploads = transport_.gatherv(std::move(mine.bytes));
  row.gather = phase.seconds();
  if (transport_.rank() == 0) row.bytes_gathered = row.bytes_moved = static_cast<int64_t>(at.uploads.bytes.size());
  return at;
}

// 3'. Hierarchical: every rank decodes its own uploads (validated as rank 0
//     would) and sums them; the ranks' sums are reduced to rank 0. A rank
//     that must stop the run (--on-bad-upload stop) still takes part in
//     the reduction, then rank 0 learns why.
Round::AtRoot Round::reduce(LocalUploads mine, const std::vector<int64_t>& sampled, const std::vector<int64_t>& used,
                           const std::vector<ClientRecord>& records, int64_t round, RoundRow& row) {
  AtRoot at;
  Timer phase;
  const int rank = transport_.rank(), ranks = transport_.size();
  at.uploads.offsets.assign(static_cast<size_t>(ranks) + 1, 0);  // only this rank's buffer is not empty
  for (int r = rank + 1; r <= ranks; ++r) at.uploads.offsets[static_cast<size_t>(r)] = mine.bytes.size();
  at.uploads.bytes = std::move(mine.bytes);
  std::string error;
  RoundRow tally;
  std::vector<algo::Upload> accepted;
  Tallies t;
  try {
    accepted = decode_uploads(at.uploads, sampled, used, round, tally);
    t = {0, double(accepted.size()), double(tally.rejected), 0, 0, double(tally.clipped)};
    for (const algo::Upload& u : accepted) {
      t.parts += double(u.payload.parts.size());
      for (const auto& part : u.payload.parts) t.scalar_parts += part.kind == compress::PartKind::kScalar;
    }
  } catch (const MalformedUpload& e) {
    error = e.what();
    accepted.clear();
    t = {};
  }
  // Folding algorithms (FedSRD, FedSRD-e, FlexLoRA) gather their folds;
  // the others reduce their sums.
  const auto* folding = dynamic_cast<const algo::FoldsPerRank*>(setup_.algorithm.get());
  std::vector<uint8_t> fold;
  if (folding) fold = pack_fold(folding->fold_rank(accepted, setup_.global), t);
  else at.reduced = rank_sum(*setup_.algorithm, accepted, setup_.global, t);
  const double combine_s = phase.seconds();
  phase.reset();
  if (folding) at.folds = transport_.gatherv(std::move(fold));
  else transport_.reduce_sum(at.reduced.values);
  row.gather = phase.seconds();
  row.aggregate = transport_.max_to_root(combine_s);  // aggregate_reduced adds rank 0's finish
  if (transport_.any(!error.empty()))
    for (const std::string& e : transport_.gather_text(error))
      if (!e.empty() && at.stop.empty()) at.stop = e;
  if (rank == 0) {
    for (const ClientRecord& r : records) row.bytes_gathered += r.upload_bytes;  // the uploads, back to back
    row.bytes_moved = folding ? static_cast<int64_t>(at.folds.bytes.size())
                              : static_cast<int64_t>(at.reduced.values.size() * sizeof(double)) * ranks;
  }
  return at;
}

// Rank 0: every upload of the gathered buffers that comes from a client its
// rank hosts, that was sampled and that comes once, decoded against the
// wire schema, unless the server does not use it (not in `used`: late or
// surplus). Under --on-bad-upload skip a bad upload is counted in
// row.rejected and dropped (a broken header loses the rest of its rank's
// buffer: one rejection); under stop its error is rethrown.
std::vector<algo::Upload> Round::decode_uploads(const comm::Gathered& uploads, const std::vector<int64_t>& sampled,
                                                const std::vector<int64_t>& used, int64_t round, RoundRow& row) {
  const auto reject = [&](const MalformedUpload& e) {
    if (config_.on_bad_upload == "stop") throw e;
    std::cerr << "flbench: round " << round + 1 << ": rejected upload: " << e.what() << " (skipped)\n";
    ++row.rejected;
  };
  std::vector<algo::Upload> accepted;
  std::set<int64_t> seen;
  for (const auto& [r, u] : split_uploads(uploads, reject)) {
    try {
      const int64_t client = u.client;
      if (client >= config_.clients || owner_rank(client, config_.clients, transport_.size()) != r ||
          !std::binary_search(sampled.begin(), sampled.end(), client))
        throw MalformedUpload("rank " + std::to_string(r), client, MalformedUpload::kNone, "client",
                              "an upload for client " + std::to_string(client) +
                                  ", which this rank does not host or which was not sampled this round");
      if (!seen.insert(client).second)
        throw MalformedUpload("client " + std::to_string(client), client, MalformedUpload::kNone, "client",
                              "uploaded twice (the first upload is kept)");
      if (!std::binary_search(used.begin(), used.end(), client)) continue;  // discarded unread
      // The decoded tensors view `uploads`, which outlives the aggregation.
      accepted.push_back({client, setup_.task->client_sample_count(client),
                          compress::decode(u.data, u.size, setup_.upload_schema, u.client)});
      row.clipped += clip_update(accepted.back().payload, config_.clip_update_norm);
    } catch (const MalformedUpload& e) {
      reject(e);
    }
  }
  return accepted;
}

// Rank 0: the broadcast `step` makes, encoded into the reused buffer; an
// error (a malformed upload, a diverged client, no valid upload) leaves it
// empty, which tells every rank to stop, and stop_reason_ says why.
std::vector<uint8_t> Round::server_step(int64_t round, const std::function<compress::Payload()>& step) {
  std::vector<uint8_t> download = std::move(download_buffer_);
  download.clear();
  if (transport_.rank() != 0) return download;
  try {
    compress::encode(step(), download);
  } catch (const MalformedUpload& e) {
    stop_reason_ = malformed_stop(round, e.what());
    download.clear();
  } catch (const Error& e) {
    stop_reason_ = std::string("round ") + std::to_string(round + 1) + ": " + e.what();
    download.clear();
  }
  return download;
}

// 4. Rank 0 checks the clients' losses, decodes, aggregates in client-id
//    order and encodes the broadcast.
std::vector<uint8_t> Round::decode_and_aggregate(int64_t round, const std::vector<int64_t>& sampled,
                                                 const std::vector<int64_t>& used,
                                                 const std::vector<ClientRecord>& records, const AtRoot& in,
                                                 RoundRow& row) {
  Timer phase;
  std::vector<uint8_t> download = server_step(round, [&] {
    check_losses(records);
    std::vector<algo::Upload> accepted = decode_uploads(in.uploads, sampled, used, round, row);
    std::sort(accepted.begin(), accepted.end(), [](const auto& a, const auto& b) { return a.client < b.client; });
    require(!accepted.empty(), "no valid upload this round");
    for (const algo::Upload& u : accepted) {
      row.parts += static_cast<int64_t>(u.payload.parts.size());
      for (const auto& part : u.payload.parts) row.scalar_parts += part.kind == compress::PartKind::kScalar;
    }
    compress::Payload out = setup_.algorithm->aggregate(round, accepted, setup_.global);
    keep_diagnostics(round);
    return out;
  });
  row.aggregate = phase.seconds();
  return download;
}

// 4'. Hierarchical, rank 0: the algorithm's server step on the mean of the
//     reduced sums (sim/hierarchical.h), or the reason a rank stopped.
std::vector<uint8_t> Round::aggregate_reduced(int64_t round, const std::vector<ClientRecord>& records, const AtRoot& in,
                                              RoundRow& row) {
  if (!in.stop.empty()) {  // rank 0 only: a rank refused an upload under --on-bad-upload stop
    stop_reason_ = malformed_stop(round, in.stop);
    return {};  // empty: every rank stops
  }
  Timer phase;
  std::vector<uint8_t> download = server_step(round, [&] {
    check_losses(records);
    auto* folding = dynamic_cast<algo::FoldsPerRank*>(setup_.algorithm.get());
    Tallies t;
    const std::vector<algo::RankFold> folds = folding ? unpack_folds(in.folds, t) : std::vector<algo::RankFold>{};
    if (!folding) t = tallies_of(in.reduced, setup_.global);
    row.rejected = static_cast<int64_t>(t.rejected);
    row.parts = static_cast<int64_t>(t.parts);
    row.scalar_parts = static_cast<int64_t>(t.scalar_parts);
    row.clipped = static_cast<int64_t>(t.clipped);
    require(t.accepted > 0, "no valid upload this round");
    compress::Payload out =
        folding ? folding->aggregate_folds(round, folds, setup_.global)
                : setup_.algorithm->aggregate(
                      round, {mean_upload(in.reduced, setup_.global, setup_.algorithm->wire_id())}, setup_.global);
    keep_diagnostics(round);
    return out;
  });
  row.aggregate += phase.seconds();
  return download;
}

// Rank 0: the server step's /server_diagnostics rows, for write_rows.
void Round::keep_diagnostics(int64_t round) {
  for (const algo::ServerDiagnostic& d : setup_.algorithm->take_server_diagnostics())
    diagnostics_.push_back({round, d});
}

// Only the uploads the server uses: a late client's loss never reaches it.
void Round::check_losses(const std::vector<ClientRecord>& records) const {
  for (const ClientRecord& r : records)
    if (arrived(r)) require(std::isfinite(r.loss), "client " + std::to_string(r.client) + " diverged (local loss " +
                                       std::to_string(r.loss) + "); lower --lr");
}

// 5. The broadcast to every rank; every rank applies it to the global state.
void Round::broadcast_and_apply(int64_t round, std::vector<uint8_t>& download, RoundRow& row) {
  Timer phase;
  transport_.bcast(download);
  row.bcast = phase.seconds();
  if (download.empty()) throw CollectiveError(transport_.rank() == 0 ? stop_reason_ : "stopped by rank 0");
  row.bytes_down = static_cast<int64_t>(download.size());
  phase.reset();
  setup_.algorithm->apply_download(
      round, setup_.global, compress::decode(download.data(), download.size(), setup_.download_schema, compress::kServerId));
  row.apply = phase.seconds();
}

// 6. Every --eval-every rounds and after the last, the ranks evaluate the
//    global model, each a share of the units, and rank 0 adds the sums
//    (evaluation.h: the same bits for any number of ranks); test_loss and
//    test_accuracy are the in-domain means. Under --personal-fraction every
//    client is also scored on its own held-out slice (personal_eval.h).
std::vector<EvalRow> Round::evaluate(int64_t round, RoundRow& row) {
  Timer phase;
  row.test_loss = row.test_accuracy = row.val_loss = row.val_accuracy = kNaN;
  row.personal_accuracy = row.personal_global_accuracy = kNaN;
  std::vector<EvalRow> rows;
  if (!evaluates(round)) return rows;
  load_global(setup_);
  const std::vector<DomainEval> evals = evaluate_shared(*setup_.task, transport_);  // empty but on rank 0
  if (transport_.rank() == 0) {
    double loss = 0, accuracy = 0, in_domain = 0;
    for (size_t d = 0; d < evals.size(); ++d) {
      rows.push_back({round, static_cast<int64_t>(d), evals[d].in_domain, evals[d].loss, evals[d].accuracy,
                      evals[d].loss_se, evals[d].validation});
      if (!std::isfinite(evals[d].loss) && diverged_.empty())
        diverged_ = "round " + std::to_string(round + 1) + ": the global model diverged: its loss on " +
                    (evals[d].validation ? std::string("the validation split") : "'" + evals[d].domain + "'") +
                    " is " + std::to_string(evals[d].loss) + " (the clients' losses were finite); lower --lr";
      if (evals[d].validation) {
        row.val_loss = evals[d].loss;
        row.val_accuracy = evals[d].accuracy;
        continue;
      }
      if (!evals[d].in_domain) continue;
      loss += evals[d].loss;
      accuracy += evals[d].accuracy;
      in_domain += 1;
    }
    row.test_loss = last_test_loss_ = loss / in_domain;
    row.test_accuracy = last_test_accuracy_ = accuracy / in_domain;
  }
  if (config_.data.personal_fraction > 0) {  // every client on its own slice (personal_eval.h)
    client_evals_ = evaluate_clients(round, setup_, transport_, config_.clients);
    std::tie(row.personal_accuracy, row.personal_global_accuracy) = mean_client_accuracy(client_evals_);
  }
  row.eval = phase.seconds();
  return rows;
}

bool Round::evaluates(int64_t round) const {
  return (round + 1) % config_.eval_every == 0 || round + 1 == config_.rounds;
}

// After an evaluation: a global model whose loss is not finite (clients
// whose losses stayed finite can still send a model whose logits overflow)
// stops the run on every rank, with rank 0's message, instead of training
// on from it. Evaluation rounds only: one flag travels.
void Round::stop_if_diverged(int64_t round) {
  if (!evaluates(round) || !transport_.any(!diverged_.empty())) return;
  throw CollectiveError(transport_.rank() == 0 ? diverged_ : "stopped by rank 0");
}

// Rank 0: each client's download and virtual times from the ledger (a
// client that dropped out downloads, then neither computes nor uploads),
// and under availability windows when each goes offline (leaves_s_, from
// the round's start).
void Round::time_clients(std::vector<ClientRecord>& records) {
  const SystemModel& systems = setup_.clock.systems();
  leaves_s_.clear();
  for (ClientRecord& r : records) {
    if (systems.has_windows())
      leaves_s_.push_back(systems.availability(r.client).online_until(round_start_s_) - round_start_s_);
    const ClientTimes t = setup_.clock.client(r.round, r.client, r.steps, r.upload_bytes, r.train_s);
    r.download_bytes = t.download_bytes;
    r.catch_up_bytes = t.catch_up_bytes;
    r.virtual_down_s = t.down_s;
    const bool dropped = r.status == static_cast<int64_t>(ClientStatus::kDropped);
    r.virtual_compute_s = dropped ? 0 : t.compute_s;
    r.virtual_up_s = dropped ? 0 : t.up_s;
    r.virtual_done_s = dropped ? kNaN : t.done_s;
  }
}

// Rank 0: the ledger learns this round's broadcast and that every sampled
// client downloaded (each now holds the state as of this round's start),
// but one that went offline before its download ended; the clock advances
// by how long the server idled and waited (start_round, settle_arrivals).
void Round::finish_clock(const std::vector<ClientRecord>& records, RoundRow& row) {
  std::vector<int64_t> heard;
  for (size_t i = 0; i < records.size(); ++i)
    if (leaves_s_.empty() || leaves_s_[i] >= records[i].virtual_down_s) heard.push_back(records[i].client);
  row.virtual_s = setup_.clock.finish_round(row.round, row.bytes_down, heard, row.virtual_s);
  row.virtual_clock_s = setup_.clock.elapsed_s();
}

// 7. The rows: /clients, /eval, /server_diagnostics and /client_eval (rank 0 holds them all), the memory
//    metrics, then rank 0's /rounds row.
void Round::write_rows(std::vector<ClientRecord>& records, const std::vector<EvalRow>& evals, RoundRow& row) {
  Timer phase;
  const bool root = transport_.rank() == 0;
  if (root) {
    row.train_loss = train_loss(records);
    finish_clock(records, row);
  }
  sink_.write_details({records, evals, diagnostics_, client_evals_});
  diagnostics_.clear();
  client_evals_.clear();
  row.io = phase.seconds();
  row.rss_max_bytes = static_cast<int64_t>(transport_.max_to_root(static_cast<double>(rss_max_bytes())));
  for (uint64_t s : transport_.allgather(static_cast<uint64_t>(client_state_bytes())))
    row.client_state_bytes += static_cast<int64_t>(s);
  row.server_state_bytes = root ? setup_.algorithm->server_state_bytes() : 0;
  row.wall = round_clock_.seconds();
  sink_.write_round(root ? &row : nullptr);
}

}  // namespace flb::sim
