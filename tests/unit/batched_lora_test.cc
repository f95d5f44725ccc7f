// Multi-adapter batching (model/multi_adapter.h, --client-batch for the LoRA
// family). References, written for the test:
//   - the forward: each client's logits from the one-adapter model with that
//     client's factors copied in, one client at a time;
//   - training: LocalTrainer training the same clients one at a time, for a
//     small Llama with LoRA on every projection, SGD (momentum, weight
//     decay) and AdamW, both factors trained (FedIT) or only B (FFA-LoRA),
//     clients with unequal step counts and short last batches.
// Also: what the binding refuses, with the fix in the message.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cstdio>
#include <stdexcept>
#include <string>

#include "flb/core/error.h"
#include "flb/model/image_models.h"
#include "flb/model/llama.h"
#include "llama_fixture.h"
#include "flb/model/multi_adapter.h"
#include "flb/sim/batched_trainer.h"
#include "flb/sim/local_trainer.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;
using model::Llama;
using model::LowRankLayer;

using model::test::small_llama;

// LoRA factors as the family trains them: A then B per layer (B only when !train_a).
std::vector<torch::Tensor> lora_factors(torch::nn::Module& m, bool train_a) {
  std::vector<torch::Tensor> out;
  for (LowRankLayer* l : model::low_rank_layers(m)) {
    if (train_a) out.push_back(l->down(0));
    out.push_back(l->up(0));
  }
  return out;
}

// Random token sequences (T = 8); client c holds kCounts[c] of them, on a
// small Llama whose base is frozen and whose factors are the trained tensors.
class FakeTokenTask : public Task {
 public:
  static constexpr int64_t kCounts[] = {13, 4, 21, 9};
  static constexpr int64_t kT = 8;

  FakeTokenTask(int64_t batch, bool train_a) {
    torch::manual_seed(5);
    model::LowRankSpec spec;
    spec.rank = 4;
    spec.alpha = 8;
    model_ = std::make_shared<Llama>(small_llama(), &spec, model::parse_llama_lora_targets("all"));
    trained_ = lora_factors(*model_, train_a);
    for (auto& p : model_->parameters()) p.set_requires_grad(false);
    for (auto& t : trained_) t.set_requires_grad(true);
    tokens_ = torch::randint(0, 32, {60, kT + 1}, torch::kLong);
    int64_t next = 0;
    for (int64_t n : kCounts) {
      std::vector<int64_t> ids;
      for (int64_t i = 0; i < n; ++i) ids.push_back(next++);
      clients_.push_back(ids);
    }
    x_ = torch::zeros({batch, kT}, torch::kLong);
    y_ = torch::zeros({batch, kT}, torch::kLong);
  }
  std::vector<torch::Tensor>& trained() { return trained_; }
  std::string describe() const override { return "fake tokens"; }
  torch::nn::Module& model() override { return *model_; }
  int64_t client_sample_count(int64_t c) const override { return static_cast<int64_t>(clients_.at(c).size()); }
  const std::vector<int64_t>& client_samples(int64_t c) override { return clients_.at(c); }
  int64_t client_stored_bytes(int64_t) const override { return 0; }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override {
    const torch::Tensor rows = tokens_.index_select(0, torch::from_blob(const_cast<int64_t*>(ids), {n}, torch::kLong).clone());
    x_.narrow(0, 0, n).copy_(rows.narrow(1, 0, kT));
    y_.narrow(0, 0, n).copy_(rows.narrow(1, 1, kT));
    return {x_.narrow(0, 0, n), y_.narrow(0, 0, n)};
  }
  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, 32}), y.reshape({-1}));
  }
  torch::Tensor losses(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, 32}), y.reshape({-1}),
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({x.size(0), -1});
  }
  std::vector<EvalDomain> eval_domains() const override { return {{"test", true}}; }
  int64_t eval_units() const override { return 0; }
  std::vector<EvalSums> evaluate_units(int64_t, int64_t) override { throw std::logic_error("unused"); }

 private:
  std::shared_ptr<Llama> model_;
  std::vector<torch::Tensor> trained_;
  torch::Tensor tokens_, x_, y_;
  std::vector<std::vector<int64_t>> clients_;
};

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& ts) {
  std::vector<torch::Tensor> out;
  for (const auto& t : ts) out.push_back(t.detach().clone());
  return out;
}
void copy_into(std::vector<torch::Tensor>& to, const std::vector<torch::Tensor>& from) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
}

TEST(MultiAdapterForward, EachClientsLogitsAreItsOwnAdaptersOnTheSharedBase) {
  for (bool train_a : {true, false}) {
    FakeTokenTask task(4, train_a);
    std::vector<torch::Tensor>& trained = task.trained();
    constexpr int64_t kK = 3, kB = 2;
    // K clients' factors: random, B non-zero so both paths matter
    std::vector<torch::Tensor> stacked;
    for (const auto& t : trained) {
      std::vector<int64_t> shape = {kK};
      for (int64_t d : t.sizes()) shape.push_back(d);
      stacked.push_back(torch::randn(shape) * 0.1);
    }
    const torch::Tensor x = torch::randint(0, 32, {kK * kB, FakeTokenTask::kT}, torch::kLong);
    model::MultiAdapterBinding binding(task.model(), trained);
    torch::Tensor batched;
    {
      torch::NoGradGuard no_grad;
      model::BoundAdapters bound(binding, stacked);
      batched = static_cast<Llama&>(task.model()).forward(x);  // (K B, T, V)
    }
    double worst = 0;
    for (int64_t k = 0; k < kK; ++k) {
      std::vector<torch::Tensor> mine;
      for (const auto& s : stacked) mine.push_back(s[k]);
      copy_into(trained, mine);
      torch::NoGradGuard no_grad;
      const torch::Tensor own = static_cast<Llama&>(task.model()).forward(x.narrow(0, k * kB, kB));
      worst = std::max(worst, (batched.narrow(0, k * kB, kB) - own).abs().max().item<double>() /
                                  own.abs().max().item<double>());
    }
    std::printf("[ multi-adapter ] %s: logits differ by %.2e of the largest (tolerance 1e-5)\n",
                train_a ? "A and B stacked" : "B stacked, A shared", worst);
    EXPECT_LT(worst, 1e-5);
    // unbound again: the model is one adapter (the last client's)
    EXPECT_NO_THROW(static_cast<Llama&>(task.model()).forward(x.narrow(0, 0, 1)));
  }
}

struct Case {
  std::string optimizer;
  int64_t k;
  bool train_a;
};

class BatchedLoraEqualsSequential : public ::testing::TestWithParam<Case> {};

TEST_P(BatchedLoraEqualsSequential, EveryClientsFactorsLossAndStepsMatch) {
  const Case& tc = GetParam();
  TrainConfig config;
  config.batch_size = 4;
  config.local_epochs = 2;  // 13 samples: 8 steps, short batches; 4 samples: 2 steps; 21: 12
  config.optimizer = tc.optimizer;
  // SGD at 0.1 with momentum 0.9: at 0.5, twelve steps grow the products'
  // rounding differences to 1.7e-4 of the update, as any two summation
  // orders would, which says nothing about batching.
  config.lr = tc.optimizer == "sgd" ? 0.1 : 0.01;
  config.momentum = 0.9;
  config.weight_decay = 1e-3;
  FakeTokenTask task(config.batch_size, tc.train_a);
  std::vector<torch::Tensor>& params = task.trained();
  const std::vector<torch::Tensor> global = copies(params);
  const int64_t clients = 4;

  std::vector<std::vector<torch::Tensor>> seq, bat;
  std::vector<LocalResult> seq_r, bat_r;
  {
    LocalTrainer trainer(task, params, config, torch::kCPU);
    for (int64_t c = 0; c < clients; ++c) {
      copy_into(params, global);
      seq_r.push_back(trainer.train(task.client_samples(c), 7, c, 3, {}));
      seq.push_back(copies(params));
    }
  }
  {
    BatchedTrainer trainer(task, "llama", params, tc.k, config, torch::kCPU);
    for (int64_t first = 0; first < clients; first += tc.k) {
      std::vector<int64_t> group;
      for (int64_t c = first; c < std::min(clients, first + tc.k); ++c) group.push_back(c);
      copy_into(params, global);
      const std::vector<LocalResult> r = trainer.train(group, 7, 3);
      for (size_t j = 0; j < group.size(); ++j) {
        bat_r.push_back(r[j]);
        trainer.load_result(j);
        bat.push_back(copies(params));
      }
    }
  }
  // Tolerances, of each client's update (float32 products in another
  // order; AdamW's per-tensor bound is looser, as for the image models).
  const double kNormTolerance = tc.optimizer == "sgd" ? 1e-4 : 1e-3;
  double worst_norm = 0, worst_loss = 0;
  for (size_t c = 0; c < static_cast<size_t>(clients); ++c) {
    EXPECT_EQ(bat_r[c].steps, seq_r[c].steps) << "client " << c;
    worst_loss = std::max(worst_loss, std::abs(bat_r[c].mean_loss - seq_r[c].mean_loss) / seq_r[c].mean_loss);
    for (size_t i = 0; i < global.size(); ++i) {
      const torch::Tensor update = seq[c][i] - global[i];
      ASSERT_GT(update.abs().max().item<double>(), 0) << "client " << c << " tensor " << i << " did not train";
      worst_norm = std::max(worst_norm, ((bat[c][i] - seq[c][i]).norm() / update.norm()).item<double>());
    }
  }
  std::printf("[ batched lora ] %s K=%ld %s: difference %.2e of the update per tensor (tolerance %.0e), mean loss "
              "%.2e relative (tolerance 1e-05)\n",
              tc.optimizer.c_str(), static_cast<long>(tc.k), tc.train_a ? "A and B" : "B only", worst_norm,
              kNormTolerance, worst_loss);
  EXPECT_LT(worst_norm, kNormTolerance);
  EXPECT_LT(worst_loss, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Llama, BatchedLoraEqualsSequential,
                         ::testing::Values(Case{"sgd", 3, true}, Case{"adamw", 4, true}, Case{"sgd", 2, false},
                                           Case{"adamw", 1, true}),
                         [](const auto& info) {
                           return info.param.optimizer + "_K" + std::to_string(info.param.k) +
                                  (info.param.train_a ? "_AB" : "_B");
                         });

TEST(MultiAdapterBinding, RefusesWhatItCannotBatchNamingTheFix) {
  const auto expect_fix = [](const std::function<void()>& f, const char* what) {
    try {
      f();
      ADD_FAILURE() << what << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--client-batch 1"), std::string::npos) << e.what();
    }
  };
  model::LowRankSpec spec;
  auto cnn = model::make_image_model("cnn", 10, &spec);  // low-rank convolutions
  expect_fix([&] { model::MultiAdapterBinding b(*cnn, lora_factors(*cnn, true)); }, "a low-rank convolution");
  FakeTokenTask task(4, true);
  std::vector<torch::Tensor> with_norm = task.trained();
  with_norm.push_back(task.model().named_parameters()["model.norm.weight"]);
  expect_fix([&] { model::MultiAdapterBinding b(task.model(), with_norm); }, "a trained tensor that is no factor");
  auto conv = model::make_image_model("cnn", 10, &spec);
  auto* layer = model::low_rank_layers(*conv).front();
  EXPECT_NO_THROW(layer->set_client_factors(torch::Tensor(), torch::Tensor()));  // one adapter: always fine
}

}  // namespace
}  // namespace flb::sim
