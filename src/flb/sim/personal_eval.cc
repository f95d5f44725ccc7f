#include "flb/sim/personal_eval.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "flb/core/error.h"
#include "flb/sim/collectively.h"
#include "flb/sim/placement.h"

namespace flb::sim {
namespace {

constexpr size_t kFields = 7;  // a ClientEvalRow, as doubles

// The mean loss and accuracy of the model as it is now on `ids`.
std::pair<double, double> score(Task& task, const std::vector<int64_t>& ids) {
  const EvalSums s = task.evaluate_samples(ids);
  return {s.loss_sum / s.count, s.correct / s.count};
}

// The rows of this rank's clients `hosted`: each slice scored by the global
// model (loaded once for all of them), then, for an algorithm with
// per-client state, by each client's own model.
std::vector<ClientEvalRow> evaluate_hosted(int64_t round, const std::vector<int64_t>& hosted, RunSetup& setup) {
  std::vector<ClientEvalRow> rows;
  load_global(setup);
  for (int64_t c : hosted) {
    ClientEvalRow row{round, c, static_cast<int64_t>(setup.task->client_held_out(c).size())};
    std::tie(row.global_loss, row.global_accuracy) = score(*setup.task, setup.task->client_held_out(c));
    row.personal_loss = row.global_loss;
    row.personal_accuracy = row.global_accuracy;
    rows.push_back(row);
  }
  if (!setup.algorithm->personalises()) return rows;
  for (ClientEvalRow& row : rows) {
    load_global(setup);
    setup.algorithm->load_client({row.client, round, setup.task->client_sample_count(row.client)}, setup.params);
    std::tie(row.personal_loss, row.personal_accuracy) = score(*setup.task, setup.task->client_held_out(row.client));
  }
  load_global(setup);
  return rows;
}

std::vector<double> pack(const std::vector<ClientEvalRow>& rows) {
  std::vector<double> out;
  for (const ClientEvalRow& r : rows)
    out.insert(out.end(), {double(r.round), double(r.client), double(r.items), r.global_loss, r.global_accuracy,
                           r.personal_loss, r.personal_accuracy});
  return out;
}

std::vector<ClientEvalRow> unpack(const std::vector<double>& values) {
  require(values.size() % kFields == 0, "personalised evaluation: gathered " + std::to_string(values.size()) +
                                            " values, not a whole number of rows");
  std::vector<ClientEvalRow> rows;
  for (size_t i = 0; i < values.size(); i += kFields) {
    const double* v = &values[i];
    rows.push_back({int64_t(v[0]), int64_t(v[1]), int64_t(v[2]), v[3], v[4], v[5], v[6]});
  }
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.client < b.client; });
  return rows;
}

}  // namespace

std::vector<ClientEvalRow> evaluate_clients(int64_t round, RunSetup& setup, comm::Transport& transport,
                                            int64_t clients) {
  std::vector<int64_t> hosted;
  for (int64_t c = 0; c < clients; ++c)
    if (owner_rank(c, clients, transport.size()) == transport.rank() && !setup.task->client_held_out(c).empty())
      hosted.push_back(c);
  std::vector<ClientEvalRow> mine;
  collectively(transport, [&] { mine = evaluate_hosted(round, hosted, setup); });
  const std::vector<double> all = transport.gather_doubles(pack(mine));
  return transport.rank() == 0 ? unpack(all) : std::vector<ClientEvalRow>{};
}

std::pair<double, double> mean_client_accuracy(const std::vector<ClientEvalRow>& rows) {
  if (rows.empty()) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  double personal = 0, global = 0;
  for (const ClientEvalRow& r : rows) {
    personal += r.personal_accuracy;
    global += r.global_accuracy;
  }
  return {personal / double(rows.size()), global / double(rows.size())};
}

}  // namespace flb::sim
