// Round, step 2 (round.h): each rank trains its sampled clients, one at a
// time or K at once (--client-batch), and encodes their uploads.
#include <algorithm>
#include <limits>

#include "flb/core/timer.h"
#include "flb/sim/arrivals.h"
#include "flb/sim/placement.h"
#include "flb/sim/round.h"

namespace flb::sim {

// Loads the global state into the model and trains one client from it.
LocalResult Round::train_client(const algo::ClientContext& ctx) {
  load_global(setup_);
  setup_.algorithm->load_client(ctx, setup_.params);
  return setup_.trainer->train(setup_.task->client_samples(ctx.client), config_.seed, ctx.client, ctx.round,
                               {[&] { return setup_.algorithm->regularizer(setup_.params, setup_.global); },
                                [&] { setup_.algorithm->after_step(ctx, setup_.params); }});
}

// Trains `group` (one client, or under --client-batch up to K at once)
// from the global state. One client: the model then holds its trained
// values; a batch: BatchedTrainer::load_result(j) loads client j's.
std::vector<LocalResult> Round::train_group(const std::vector<algo::ClientContext>& group) {
  if (!setup_.batched) return {train_client(group.at(0))};
  load_global(setup_);
  std::vector<int64_t> clients;
  for (const auto& ctx : group) clients.push_back(ctx.client);
  return setup_.batched->train(clients, config_.seed, group.at(0).round);
}

// 2. Each rank trains its sampled clients and encodes their uploads; a
//    client that drops out (--dropout-prob) is not trained and gets a
//    record saying so. Under --client-batch K the clients train K at a
//    time and each is charged an equal share of its batch's time.
Round::LocalUploads Round::train_and_encode(int64_t round, const std::vector<int64_t>& sampled, RoundRow& row) {
  LocalUploads out;
  out.bytes = std::move(upload_buffer_);
  out.bytes.clear();
  const int rank = transport_.rank();
  std::vector<algo::ClientContext> trained;  // this rank's sampled clients that do not drop out, ascending
  for (int64_t c : sampled) {
    if (owner_rank(c, config_.clients, transport_.size()) != rank) continue;
    const algo::ClientContext ctx{c, round, setup_.task->client_sample_count(c)};
    if (!drops_out(config_.seed, c, round, config_.dropout_prob)) {
      trained.push_back(ctx);
      continue;
    }
    ClientRecord dropped{round, c, rank, ctx.samples, 0, std::numeric_limits<double>::quiet_NaN(), 0, 0, 0};
    dropped.status = static_cast<int64_t>(ClientStatus::kDropped);
    out.records.push_back(dropped);
  }
  const size_t k = setup_.batched ? static_cast<size_t>(setup_.batched->capacity()) : 1;
  double train_s = 0, encode_s = 0;
  Timer phase;
  for (size_t first = 0; first < trained.size(); first += k) {
    const std::vector<algo::ClientContext> group(trained.begin() + static_cast<std::ptrdiff_t>(first),
                                                 trained.begin() + static_cast<std::ptrdiff_t>(std::min(trained.size(), first + k)));
    phase.reset();
    const std::vector<LocalResult> local = train_group(group);
    const double each_s = phase.seconds() / static_cast<double>(group.size());
    train_s += each_s * static_cast<double>(group.size());
    phase.reset();
    for (size_t j = 0; j < group.size(); ++j) {
      if (setup_.batched) setup_.batched->load_result(j);
      const algo::ClientContext& ctx = group[j];
      const algo::EncodedUpload up = setup_.algorithm->append_upload(ctx, setup_.global, setup_.params, out.bytes);
      ClientRecord record{round, ctx.client, rank, ctx.samples, local[j].steps, local[j].mean_loss, up.bytes, up.values, up.scalar_parts};
      record.train_s = each_s;
      out.records.push_back(record);
    }
    encode_s += phase.seconds();
  }
  // ascending client id, dropped clients among them (rank 0 reads them so)
  std::stable_sort(out.records.begin(), out.records.end(), [](const auto& a, const auto& b) { return a.client < b.client; });
  row.train = transport_.max_to_root(train_s);
  row.encode = transport_.max_to_root(encode_s);
  return out;
}

}  // namespace flb::sim
