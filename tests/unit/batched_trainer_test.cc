// sim/batched_trainer.h: K clients trained at once equal the same clients
// trained one at a time by LocalTrainer (the reference), for the mlp and
// the cnn, with SGD (momentum, weight decay) and AdamW, and with clients
// whose sample counts give unequal step counts and short last batches;
// models without a batched forward are refused with a message.
#include "flb/sim/batched_trainer.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "flb/core/error.h"
#include "flb/model/image_models.h"
#include "flb/sim/local_trainer.h"

namespace flb::sim {
namespace {

// Random 28x28 images in 10 classes; client c holds kCounts[c] of them.
class FakeImageTask : public Task {
 public:
  static constexpr int64_t kCounts[] = {37, 64, 5, 100, 16};

  FakeImageTask(const std::string& model, int64_t batch) {
    torch::manual_seed(11);
    model_ = model::make_image_model(model, 10);
    images_ = torch::randn({300, 1, 28, 28});
    labels_ = torch::randint(0, 10, {300}, torch::kLong);
    int64_t next = 0;
    for (int64_t n : kCounts) {
      std::vector<int64_t> ids;
      for (int64_t i = 0; i < n; ++i) ids.push_back(next++);
      clients_.push_back(ids);
    }
    x_ = torch::zeros({batch, 1, 28, 28});
    y_ = torch::zeros({batch}, torch::kLong);
  }
  std::string describe() const override { return "fake images"; }
  torch::nn::Module& model() override { return *model_; }
  int64_t client_sample_count(int64_t c) const override { return static_cast<int64_t>(clients_.at(c).size()); }
  const std::vector<int64_t>& client_samples(int64_t c) override { return clients_.at(c); }
  int64_t client_stored_bytes(int64_t) const override { return 0; }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override {
    const torch::Tensor idx = torch::from_blob(const_cast<int64_t*>(ids), {n}, torch::kLong).clone();
    x_.narrow(0, 0, n).copy_(images_.index_select(0, idx));
    y_.narrow(0, 0, n).copy_(labels_.index_select(0, idx));
    return {x_.narrow(0, 0, n), y_.narrow(0, 0, n)};  // overwritten by the next call, as the real tasks' batches
  }
  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return torch::nn::functional::cross_entropy(model_->forward(x), y);
  }
  std::vector<EvalDomain> eval_domains() const override { return {{"test", true}}; }
  int64_t eval_units() const override { return 0; }
  std::vector<EvalSums> evaluate_units(int64_t, int64_t) override { throw std::logic_error("unused"); }

 private:
  std::shared_ptr<model::ImageClassifier> model_;
  torch::Tensor images_, labels_, x_, y_;
  std::vector<std::vector<int64_t>> clients_;
};

struct Trained {
  std::vector<std::vector<torch::Tensor>> values;  // per client
  std::vector<LocalResult> results;
  std::vector<double> next_draw;  // torch::rand after the client, as an algorithm's encode would see it
};

void copy_into(std::vector<torch::Tensor>& to, const std::vector<torch::Tensor>& from) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
}
std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts) out.push_back(t.detach().clone());
  return out;
}

constexpr uint64_t kSeed = 7;
constexpr int64_t kRound = 3;

Trained one_at_a_time(FakeImageTask& task, const TrainConfig& config, const std::vector<torch::Tensor>& global) {
  std::vector<torch::Tensor> params = task.model().parameters();
  LocalTrainer trainer(task, params, config, torch::kCPU);
  Trained t;
  for (int64_t c = 0; c < 5; ++c) {
    copy_into(params, global);
    t.results.push_back(trainer.train(task.client_samples(c), kSeed, c, kRound, {}));
    t.values.push_back(copies(params));
    t.next_draw.push_back(torch::rand({1}).item<double>());
  }
  return t;
}

Trained batched(FakeImageTask& task, const std::string& model, const TrainConfig& config,
                const std::vector<torch::Tensor>& global, int64_t k) {
  std::vector<torch::Tensor> params = task.model().parameters();
  BatchedTrainer trainer(task, model, params, k, config, torch::kCPU);
  Trained t;
  for (int64_t first = 0; first < 5; first += k) {
    std::vector<int64_t> group;
    for (int64_t c = first; c < std::min<int64_t>(5, first + k); ++c) group.push_back(c);
    copy_into(params, global);
    const std::vector<LocalResult> r = trainer.train(group, kSeed, kRound);
    for (size_t j = 0; j < group.size(); ++j) {
      t.results.push_back(r[j]);
      trainer.load_result(j);
      t.values.push_back(copies(params));
      t.next_draw.push_back(torch::rand({1}).item<double>());
    }
  }
  return t;
}

struct Case {
  std::string model, optimizer;
  int64_t k;
};

class BatchedEqualsSequential : public ::testing::TestWithParam<Case> {};

// The difference is measured against the size of each client's update, so
// it reads as "how much of what training did differs".
TEST_P(BatchedEqualsSequential, EveryClientsValuesLossAndStepsMatch) {
  const Case& tc = GetParam();
  TrainConfig config;
  config.model = tc.model;
  config.batch_size = 16;
  config.local_epochs = 2;  // 37 samples: 6 steps with short batches; 5 samples: 2 steps; 100: 14
  config.optimizer = tc.optimizer;
  config.lr = tc.optimizer == "sgd" ? 0.05 : 0.002;
  config.momentum = 0.9;
  config.weight_decay = 1e-3;
  FakeImageTask task(tc.model, config.batch_size);
  const std::vector<torch::Tensor> global = copies(task.model().parameters());
  const Trained seq = one_at_a_time(task, config, global);
  const Trained bat = batched(task, tc.model, config, global, tc.k);
  // Tolerances, of the update: float32 products in another order. Per
  // tensor in the Frobenius norm; per entry too under SGD. AdamW divides
  // each entry's step by its own gradient's size, so an entry whose
  // gradient is at rounding level (a nearly dead unit of a client with two
  // steps) moves by a different fraction of lr: per entry it differs by
  // up to ~2e-2 of the largest update, as it would between any two BLAS,
  // and per tensor by ~6e-5 here (so AdamW's per-tensor tolerance is 1e-3).
  const double kNormTolerance = tc.optimizer == "sgd" ? 1e-4 : 1e-3, kEntryTolerance = 1e-4;
  double worst_norm = 0, worst_entry = 0, worst_loss = 0;
  for (size_t c = 0; c < 5; ++c) {
    EXPECT_EQ(bat.results[c].steps, seq.results[c].steps) << "client " << c;
    worst_loss = std::max(worst_loss, std::abs(bat.results[c].mean_loss - seq.results[c].mean_loss) / seq.results[c].mean_loss);
    EXPECT_EQ(bat.next_draw[c], seq.next_draw[c]) << "client " << c << ": LibTorch's generator after the client";
    for (size_t i = 0; i < global.size(); ++i) {
      const torch::Tensor update = seq.values[c][i] - global[i], diff = bat.values[c][i] - seq.values[c][i];
      ASSERT_GT(update.abs().max().item<double>(), 0) << "client " << c << " tensor " << i << " did not train";
      worst_norm = std::max(worst_norm, (diff.norm() / update.norm()).item<double>());
      worst_entry = std::max(worst_entry, (diff.abs().max() / update.abs().max()).item<double>());
    }
  }
  std::printf("[ batched ] %s %s K=%ld: difference %.2e of the update per tensor (tolerance %.0e), %.2e per entry%s, "
              "mean loss %.2e relative (tolerance 1e-05)\n",
              tc.model.c_str(), tc.optimizer.c_str(), static_cast<long>(tc.k), worst_norm, kNormTolerance, worst_entry,
              tc.optimizer == "sgd" ? " (tolerance 1e-04)" : " (adamw: not bounded)", worst_loss);
  EXPECT_LT(worst_norm, kNormTolerance);
  if (tc.optimizer == "sgd") {
    EXPECT_LT(worst_entry, kEntryTolerance);
  }
  EXPECT_LT(worst_loss, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Models, BatchedEqualsSequential,
                         ::testing::Values(Case{"mlp", "sgd", 3}, Case{"mlp", "adamw", 5}, Case{"mlp", "sgd", 1},
                                           Case{"cnn", "sgd", 2}, Case{"cnn", "adamw", 5}),
                         [](const auto& info) {
                           return info.param.model + "_" + info.param.optimizer + "_K" + std::to_string(info.param.k);
                         });

TEST(BatchedTrainer, RefusesModelsWithoutABatchedForwardNamingTheFix) {
  TrainConfig config;
  FakeImageTask task("lenet-fedloru", config.batch_size);
  try {
    BatchedTrainer trainer(task, "lenet-fedloru", task.model().parameters(), 4, config, torch::kCPU);
    FAIL() << "lenet-fedloru was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--client-batch 1"), std::string::npos) << e.what();
  }
  FakeImageTask mlp("mlp", config.batch_size);
  std::vector<torch::Tensor> some = mlp.model().parameters();
  some.pop_back();  // a partly frozen model
  EXPECT_THROW(BatchedTrainer(mlp, "mlp", some, 4, config, torch::kCPU), Error);
  EXPECT_THROW(BatchedTrainer(mlp, "cnn", mlp.model().parameters(), 4, config, torch::kCPU), Error);
}

TEST(BatchedTrainer, RefusesMoreClientsThanItsCapacity) {
  TrainConfig config;
  FakeImageTask task("mlp", config.batch_size);
  BatchedTrainer trainer(task, "mlp", task.model().parameters(), 2, config, torch::kCPU);
  EXPECT_THROW(trainer.train({0, 1, 2}, kSeed, kRound), Error);
  EXPECT_THROW(trainer.train({}, kSeed, kRound), Error);
}

}  // namespace
}  // namespace flb::sim
