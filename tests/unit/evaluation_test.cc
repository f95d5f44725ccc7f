// sim/evaluation.h: shared evaluation on 1..5 loopback ranks equals the
// whole evaluation in one process bit for bit (rank 0 adds the units' sums
// in unit order whatever the split), every unit is evaluated exactly once,
// and a unit that throws on one rank ends every rank with an error instead
// of a hang.
#include "flb/sim/evaluation.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "flb/comm/loopback.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::sim {
namespace {

// A task whose units have awkward sums (so that the order of additions
// shows in the bits) over three domains; it records which units it ran.
class FakeEvalTask : public Task {
 public:
  explicit FakeEvalTask(int64_t units, int64_t throw_at = -1) : throw_at_(throw_at) {
    Stream s(5, StreamPurpose::kTest);
    for (int64_t u = 0; u < units; ++u)
      sums_.push_back({u % 3, 1e3 * s.uniform() + 1e-9 * s.uniform(), static_cast<double>(u % 7), 97.0 + u % 5});
  }
  std::string describe() const override { return "fake"; }
  torch::nn::Module& model() override { throw std::logic_error("unused"); }
  int64_t client_sample_count(int64_t) const override { return 0; }
  const std::vector<int64_t>& client_samples(int64_t) override { return none_; }
  int64_t client_stored_bytes(int64_t) const override { return 0; }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t*, int64_t) override { throw std::logic_error("unused"); }
  torch::Tensor loss(const torch::Tensor&, const torch::Tensor&) override { throw std::logic_error("unused"); }
  std::vector<EvalDomain> eval_domains() const override { return {{"a", true}, {"b", true}, {"ood", false}}; }
  int64_t eval_units() const override { return static_cast<int64_t>(sums_.size()); }
  std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) override {
    std::vector<EvalSums> out;
    for (int64_t u = begin; u < end; ++u) {
      if (u == throw_at_) throw std::runtime_error("unit " + std::to_string(u) + " failed");
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ran_.insert(u);
        ++calls_;
      }
      out.push_back(sums_[static_cast<size_t>(u)]);
    }
    return out;
  }
  std::set<int64_t> ran_;
  int64_t calls_ = 0;

 private:
  std::vector<EvalSums> sums_;
  std::vector<int64_t> none_;
  int64_t throw_at_;
  std::mutex mutex_;
};

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(SharedEvaluation, EqualsOneProcessBitwiseForEveryRankCount) {
  for (int64_t units : {1, 2, 7, 20}) {
    FakeEvalTask solo(units);
    const std::vector<DomainEval> want = evaluate_all(solo);
    for (int ranks = 1; ranks <= 5; ++ranks) {
      FakeEvalTask task(units);  // shared by the rank threads: each evaluates its own units
      std::vector<DomainEval> got;
      comm::run_loopback(ranks, [&](comm::Transport& t) {
        const std::vector<DomainEval> r = evaluate_shared(task, t);
        if (t.rank() == 0) got = r; else EXPECT_TRUE(r.empty());
      });
      ASSERT_EQ(got.size(), want.size());
      for (size_t d = 0; d < want.size(); ++d) {
        EXPECT_EQ(got[d].domain, want[d].domain);
        EXPECT_EQ(got[d].in_domain, want[d].in_domain);
        EXPECT_TRUE(same_bits(got[d].loss, want[d].loss)) << units << " units, " << ranks << " ranks, domain " << d;
        EXPECT_TRUE(same_bits(got[d].accuracy, want[d].accuracy)) << units << " units, " << ranks << " ranks";
      }
      EXPECT_EQ(static_cast<int64_t>(task.ran_.size()), units);  // each unit once
      EXPECT_EQ(task.calls_, units);
    }
  }
  std::printf("shared evaluation on 1..5 ranks: bitwise equal to one process for 1, 2, 7 and 20 units\n");
}

TEST(SharedEvaluation, MeansAreSumsOverCountsAndEmptyDomainsAreZero) {
  const std::vector<EvalDomain> domains = {{"x", true}, {"y", false}};
  const std::vector<DomainEval> e = combine_eval(domains, {{0, 3.0, 1, 4}, {0, 5.0, 2, 4}});
  EXPECT_DOUBLE_EQ(e[0].loss, 1.0);
  EXPECT_DOUBLE_EQ(e[0].accuracy, 3.0 / 8);
  EXPECT_EQ(e[1].loss, 0.0);
  EXPECT_FALSE(e[1].in_domain);
  EXPECT_THROW(combine_eval(domains, {{2, 1, 1, 1}}), Error);
}

// The standard error of a domain's loss, over units split anywhere:
// against the two-pass sample standard deviation of the items' mean
// losses computed here from the same numbers.
TEST(SharedEvaluation, LossStandardErrorIsTheItemsSampleSdOverRootN) {
  Stream s(5, StreamPurpose::kTest);
  const int64_t items = 37, per_item = 6;
  const torch::Tensor losses = torch::empty({items, per_item}, torch::kFloat32);
  float* p = losses.data_ptr<float>();
  for (int64_t i = 0; i < losses.numel(); ++i) p[i] = static_cast<float>(3.0 * s.uniform());
  std::vector<double> means;
  for (int64_t i = 0; i < items; ++i) {
    double m = 0;
    for (int64_t j = 0; j < per_item; ++j) m += p[i * per_item + j];
    means.push_back(m / per_item);
  }
  double mean = 0, var = 0;
  for (double m : means) mean += m / items;
  for (double m : means) var += (m - mean) * (m - mean) / (items - 1);
  const double want = std::sqrt(var / items);
  std::vector<EvalSums> units;  // units of 10, 10, 10, 7 items
  for (int64_t at = 0; at < items; at += 10) {
    const torch::Tensor part = losses.narrow(0, at, std::min<int64_t>(10, items - at));
    units.push_back(unit_sums(0, part.sum().item<double>(), 0, part));
  }
  const std::vector<DomainEval> e = combine_eval({{"x", true}}, units);
  std::printf("loss standard error %.6f, two-pass reference %.6f (difference %.1e, tolerance 1e-9)\n", e[0].loss_se,
              want, std::abs(e[0].loss_se - want));
  EXPECT_NEAR(e[0].loss_se, want, 1e-9);
  EXPECT_NEAR(e[0].loss, mean, 1e-6);
  EXPECT_EQ(combine_eval({{"x", true}}, {unit_sums(0, 1.0, 1, torch::ones({1, 4}))})[0].loss_se, 0.0);  // one item
}

TEST(SharedEvaluation, AUnitThatThrowsEndsEveryRankWithoutAHang) {
  FakeEvalTask task(8, /*throw_at=*/6);  // on the last of 3 ranks
  EXPECT_THROW(comm::run_loopback(3, [&](comm::Transport& t) { evaluate_shared(task, t); }), std::exception);
}

}  // namespace
}  // namespace flb::sim
