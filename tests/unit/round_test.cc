// Whole rounds (train, encode, gather, decode, aggregate, broadcast,
// apply, evaluate, rows) through sim::Round on the loopback transport,
// without mpirun: against a FedAvg computed by hand, 1 rank against 2
// ranks bitwise, a diverged client stopping every rank together, and
// personalised evaluation (--personal-fraction) against a hand reference.
#include "flb/sim/round.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <set>

#include "flb/comm/loopback.h"
#include "flb/core/collective_error.h"
#include "flb/model/image_models.h"
#include "flb/sim/personal_eval.h"
#include "flb/sim/placement.h"

namespace flb::sim {
namespace {

// Rows kept in memory instead of the HDF5 file.
struct MemorySink : RowSink {
  std::vector<ClientRecord> clients;
  std::vector<EvalRow> evals;
  std::vector<RoundRow> rounds;
  std::vector<DiagnosticRow> diagnostics;
  std::vector<ClientEvalRow> client_evals;
  void write_details(const RoundDetails& d) override {
    clients.insert(clients.end(), d.clients.begin(), d.clients.end());
    evals.insert(evals.end(), d.evals.begin(), d.evals.end());
    diagnostics.insert(diagnostics.end(), d.diagnostics.begin(), d.diagnostics.end());
    client_evals.insert(client_evals.end(), d.client_evals.begin(), d.client_evals.end());
  }
  void write_round(const RoundRow* row) override {
    if (row) rounds.push_back(*row);
  }
};

RunConfig small_config() {
  RunConfig c;
  c.clients = 6;
  c.clients_per_round = 3;
  c.rounds = 2;
  c.train.local_steps = 2;
  c.train.batch_size = 16;
  c.threads = 1;
  c.seed = 5;
  return c;
}

bool have_data(const RunConfig& c) { return std::filesystem::exists(c.data.data_dir + "/train-images-idx3-ubyte.gz"); }

// Runs config.rounds rounds on `ranks` loopback ranks; returns every rank's
// setup (rank 0's global state is the result) and rank 0's rows.
struct Outcome {
  std::vector<RunSetup> setups;
  MemorySink rows;
  std::vector<uint64_t> gather_sent;  // per rank
};

Outcome run_rounds(const RunConfig& config, int ranks) {
  Outcome out;
  // Setups one after another: each seeds LibTorch's global generator.
  for (int r = 0; r < ranks; ++r) out.setups.push_back(make_setup(config, r, ranks));
  std::vector<MemorySink> sinks(static_cast<size_t>(ranks));
  out.gather_sent.resize(static_cast<size_t>(ranks));
  comm::run_loopback(ranks, [&](comm::Transport& t) {
    const size_t me = static_cast<size_t>(t.rank());
    Round round(config, out.setups[me], t, sinks[me]);
    for (int64_t r = 0; r < config.rounds; ++r) round.run(r);
    out.gather_sent[me] = t.counters().gather_sent;
  });
  for (size_t r = 1; r < sinks.size(); ++r)
    EXPECT_TRUE(sinks[r].clients.empty() && sinks[r].rounds.empty()) << "rank " << r << " wrote rows";
  out.rows = sinks[0];
  return out;
}

float max_abs_diff(const algo::Tensors& a, const algo::Tensors& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, (a[i] - b[i]).abs().max().item<float>());
  return m;
}

TEST(Round, OneRoundEqualsFedAvgComputedByHand) {
  RunConfig config = small_config();
  config.rounds = 1;
  if (!have_data(config)) GTEST_SKIP() << "no Fashion-MNIST in " << config.data.data_dir;
  const Outcome got = run_rounds(config, 1);

  // The reference: train each sampled client from the initial model, then
  // global + sum_k n_k / n (local_k - global).
  RunSetup ref = make_setup(config, 0, 1);
  const algo::Tensors start = [&] {
    algo::Tensors t;
    for (const auto& g : ref.global) t.push_back(g.clone());
    return t;
  }();
  const std::vector<int64_t> sampled = sample_clients(config.seed, 0, config.clients, config.clients_per_round);
  int64_t total = 0;
  for (int64_t c : sampled) total += static_cast<int64_t>(ref.task->client_sample_count(c));
  algo::Tensors want;
  for (const auto& g : start) want.push_back(g.clone());
  double weighted_loss = 0;
  for (int64_t c : sampled) {
    load_global(ref);
    const auto& ids = ref.task->client_samples(c);
    const LocalResult local = ref.trainer->train(ids, config.seed, c, 0, {});
    const double w = static_cast<double>(ids.size()) / static_cast<double>(total);
    weighted_loss += local.mean_loss * static_cast<double>(ids.size());
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < want.size(); ++i) want[i] += w * (ref.params[i] - start[i]);
  }
  const float diff = max_abs_diff(got.setups[0].global, want);
  std::cout << "max |round - hand FedAvg| = " << diff << " (tolerance 1e-6)\n";
  EXPECT_LT(diff, 1e-6f);

  ASSERT_EQ(got.rows.rounds.size(), 1u);
  const RoundRow& row = got.rows.rounds[0];
  ASSERT_EQ(got.rows.clients.size(), sampled.size());
  int64_t uploaded = 0;
  for (size_t k = 0; k < sampled.size(); ++k) {
    const ClientRecord& cr = got.rows.clients[k];
    EXPECT_EQ(cr.client, sampled[k]);
    EXPECT_EQ(cr.samples, ref.task->client_sample_count(sampled[k]));
    EXPECT_EQ(cr.steps, 2);
    uploaded += cr.upload_bytes;
  }
  std::cout << "train_loss " << row.train_loss << " (hand " << weighted_loss / static_cast<double>(total)
            << "), bytes_gathered " << row.bytes_gathered << ", uploads " << uploaded << "\n";
  EXPECT_NEAR(row.train_loss, weighted_loss / static_cast<double>(total), 1e-9);
  EXPECT_EQ(static_cast<uint64_t>(row.bytes_gathered), got.gather_sent[0]);
  EXPECT_EQ(row.bytes_gathered, uploaded);  // wire v2: the payloads back to back, no framing
  EXPECT_GT(row.bytes_down, 0);
  EXPECT_TRUE(std::isfinite(row.test_accuracy));
  ASSERT_EQ(got.rows.evals.size(), 1u);
  EXPECT_EQ(got.rows.evals[0].accuracy, row.test_accuracy);
}

bool same_bits(const algo::Tensors& a, const algo::Tensors& b) {
  for (size_t i = 0; i < a.size(); ++i)
    if (!torch::equal(a[i], b[i])) return false;
  return a.size() == b.size();
}

TEST(Round, TwoLoopbackRanksGiveTheBitsOfOne) {
  const RunConfig config = small_config();
  if (!have_data(config)) GTEST_SKIP() << "no Fashion-MNIST in " << config.data.data_dir;
  const Outcome one = run_rounds(config, 1);
  const Outcome two = run_rounds(config, 2);
  EXPECT_TRUE(same_bits(one.setups[0].global, two.setups[0].global)) << "rank 0's global state";
  EXPECT_TRUE(same_bits(two.setups[0].global, two.setups[1].global)) << "rank 1's global state";
  ASSERT_EQ(one.rows.rounds.size(), 2u);
  ASSERT_EQ(two.rows.rounds.size(), 2u);
  for (size_t r = 0; r < 2; ++r) {
    const RoundRow &a = one.rows.rounds[r], &b = two.rows.rounds[r];
    std::cout << "round " << r << ": train_loss " << a.train_loss << " / " << b.train_loss << ", test_loss "
              << a.test_loss << " / " << b.test_loss << ", bytes_gathered " << a.bytes_gathered << " / "
              << b.bytes_gathered << "\n";
    EXPECT_EQ(a.train_loss, b.train_loss);
    EXPECT_EQ(a.test_loss, b.test_loss);
    EXPECT_EQ(a.test_accuracy, b.test_accuracy);
    EXPECT_EQ(a.bytes_gathered, b.bytes_gathered);
    EXPECT_EQ(a.bytes_down, b.bytes_down);
  }
  ASSERT_EQ(one.rows.clients.size(), two.rows.clients.size());
  bool both_ranks = false;
  for (size_t k = 0; k < one.rows.clients.size(); ++k) {
    const ClientRecord &a = one.rows.clients[k], &b = two.rows.clients[k];
    EXPECT_EQ(a.client, b.client);
    EXPECT_EQ(a.loss, b.loss);
    EXPECT_EQ(a.upload_bytes, b.upload_bytes);
    EXPECT_EQ(b.rank, owner_rank(b.client, config.clients, 2));
    both_ranks = both_ranks || b.rank == 1;
  }
  EXPECT_TRUE(both_ranks) << "rank 1 trained some client (its records reached rank 0)";
  EXPECT_EQ(static_cast<uint64_t>(two.rows.rounds[0].bytes_gathered + two.rows.rounds[1].bytes_gathered),
            two.gather_sent[0] + two.gather_sent[1]);
}

TEST(Round, ADivergedClientStopsEveryRankWithRankZerosReason) {
  RunConfig config = small_config();
  config.train.lr = 1e30;  // the loss overflows
  if (!have_data(config)) GTEST_SKIP() << "no Fashion-MNIST in " << config.data.data_dir;
  std::vector<RunSetup> setups;
  for (int r = 0; r < 2; ++r) setups.push_back(make_setup(config, r, 2));
  std::vector<MemorySink> sinks(2);
  std::vector<std::string> seen(2);
  std::mutex m;
  comm::run_loopback(2, [&](comm::Transport& t) {
    Round round(config, setups[static_cast<size_t>(t.rank())], t, sinks[static_cast<size_t>(t.rank())]);
    try {
      round.run(0);
    } catch (const CollectiveError& e) {
      std::lock_guard<std::mutex> lock(m);
      seen[static_cast<size_t>(t.rank())] = e.what();
    }
  });
  std::cout << "rank 0: " << seen[0] << "\nrank 1: " << seen[1] << "\n";
  EXPECT_NE(seen[0].find("round 1: client"), std::string::npos);
  EXPECT_NE(seen[0].find("diverged"), std::string::npos);
  EXPECT_EQ(seen[1], "stopped by rank 0");
  EXPECT_TRUE(sinks[0].rounds.empty()) << "no row for a round that stopped";
}

// The hand reference of one client's slice: the model as `setup` holds it
// now, scored batch by batch with a float64 log-softmax written here.
std::pair<double, double> hand_score(RunSetup& setup, const std::vector<int64_t>& ids, int64_t batch) {
  torch::NoGradGuard no_grad;
  setup.model().eval();
  double loss = 0, correct = 0;
  for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(batch)) {
    const int64_t n = std::min<int64_t>(batch, static_cast<int64_t>(ids.size() - start));
    auto [x, y] = setup.task->batch(ids.data() + start, n);
    const torch::Tensor z = dynamic_cast<model::ImageClassifier&>(setup.model()).forward(x).to(torch::kFloat64);
    const torch::Tensor log_p = z - z.exp().sum(1, true).log();  // no max shift: logits here are small
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = y[i].item<int64_t>();
      loss -= log_p[i][label].item<double>();
      correct += z[i].argmax().item<int64_t>() == label ? 1 : 0;
    }
  }
  setup.model().train();
  return {loss / double(ids.size()), correct / double(ids.size())};
}

// --personal-fraction with pFedLoRU on 2 loopback ranks: one /client_eval
// row per client, in client order, each equal to a hand reference of the
// global model and of the model with that client's private pair loaded
// (on its own rank); a client that never trained scores the global model
// twice; /rounds' means are the rows' means; the model holds the global
// state afterwards; and 1 rank gives the same rows as 2.
TEST(Round, PersonalEvaluationScoresEachClientsSliceWithItsOwnState) {
  RunConfig config = small_config();
  if (!have_data(config)) GTEST_SKIP() << "no Fashion-MNIST in " << config.data.data_dir;
  config.algorithm = "pfedloru";
  config.clients = 8;
  config.clients_per_round = 2;
  config.rounds = 2;
  config.data.personal_fraction = 0.01;  // about 75 of the 7,500 samples of an IID client
  config.data.validation_fraction = 0.01;
  const Outcome got = run_rounds(config, 2);
  ASSERT_EQ(got.rows.client_evals.size(), size_t(2 * config.clients));  // both rounds evaluated (eval_every 1)
  std::set<int64_t> trained;
  for (const ClientRecord& r : got.rows.clients) trained.insert(r.client);
  double worst = 0;
  int personalised = 0;
  for (int64_t c = 0; c < config.clients; ++c) {
    const ClientEvalRow& row = got.rows.client_evals[size_t(config.clients + c)];  // the last round's
    ASSERT_EQ(row.client, c);
    ASSERT_EQ(row.round, 1);
    RunSetup& host = const_cast<RunSetup&>(got.setups[size_t(owner_rank(c, config.clients, 2))]);
    const std::vector<int64_t>& ids = host.task->client_held_out(c);
    const int64_t n = host.task->client_sample_count(c) + int64_t(ids.size());
    ASSERT_EQ(row.items, int64_t(ids.size()));
    EXPECT_NEAR(double(row.items), 0.01 * double(n), 1.0);
    for (int64_t id : host.task->client_samples(c))  // never trained on
      EXPECT_FALSE(std::binary_search(ids.begin(), ids.end(), id)) << "client " << c << " trains on held-out " << id;
    load_global(host);
    const auto [g_loss, g_acc] = hand_score(host, ids, config.train.batch_size);
    host.algorithm->load_client({c, 1, host.task->client_sample_count(c)}, host.params);
    const auto [p_loss, p_acc] = hand_score(host, ids, config.train.batch_size);
    load_global(host);
    worst = std::max({worst, std::abs(row.global_loss - g_loss), std::abs(row.personal_loss - p_loss)});
    EXPECT_EQ(row.global_accuracy, g_acc) << "client " << c;
    EXPECT_EQ(row.personal_accuracy, p_acc) << "client " << c;
    if (!trained.count(c)) {
      EXPECT_EQ(row.personal_loss, row.global_loss) << "client " << c << " never trained: no private pair";
    } else {
      personalised += row.personal_loss != row.global_loss;
    }
  }
  std::printf("personalised evaluation: worst |row - hand| loss %.2e (tolerance 1e-5); %d of %zu trained clients "
              "scored differently from the global model\n", worst, personalised, trained.size());
  EXPECT_LT(worst, 1e-5);
  EXPECT_GT(personalised, 0);
  const std::vector<ClientEvalRow> last(got.rows.client_evals.begin() + config.clients, got.rows.client_evals.end());
  const auto [personal, global] = mean_client_accuracy(last);
  EXPECT_EQ(got.rows.rounds.back().personal_accuracy, personal);
  EXPECT_EQ(got.rows.rounds.back().personal_global_accuracy, global);
  EXPECT_TRUE(std::isnan(mean_client_accuracy({}).first));
  for (const RunSetup& s : got.setups) EXPECT_EQ(max_abs_diff(s.params, s.global), 0.0f) << "the global state after";

  const Outcome one = run_rounds(config, 1);
  ASSERT_EQ(one.rows.client_evals.size(), got.rows.client_evals.size());
  for (size_t i = 0; i < one.rows.client_evals.size(); ++i) {
    EXPECT_EQ(one.rows.client_evals[i].personal_loss, got.rows.client_evals[i].personal_loss) << "row " << i;
    EXPECT_EQ(one.rows.client_evals[i].global_loss, got.rows.client_evals[i].global_loss) << "row " << i;
  }
}

// Without per-client state the personalised model is the global one.
TEST(Round, PersonalEvaluationOfFedAvgIsTheGlobalModels) {
  RunConfig config = small_config();
  if (!have_data(config)) GTEST_SKIP() << "no Fashion-MNIST in " << config.data.data_dir;
  config.rounds = 1;
  config.data.personal_fraction = 0.01;
  const Outcome got = run_rounds(config, 1);
  ASSERT_EQ(got.rows.client_evals.size(), size_t(config.clients));
  for (const ClientEvalRow& r : got.rows.client_evals) {
    EXPECT_EQ(r.personal_loss, r.global_loss);
    EXPECT_EQ(r.personal_accuracy, r.global_accuracy);
  }
  EXPECT_TRUE(std::isnan(run_rounds(small_config(), 1).rows.rounds[0].personal_accuracy));  // off by default
}

}  // namespace
}  // namespace flb::sim
