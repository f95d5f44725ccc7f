// --dataset synthetic (task.h): FedProx's Synthetic(alpha, beta) clients
// (data/synthetic.h) and multinomial logistic regression (60 -> 10), as in
// the FedProx paper. Nothing is stored per client: a client's model, count
// and samples are drawn from (seed, client) when it trains, so a run can
// hold a million clients (client_stored_bytes is 0; the algorithm's own
// per-client state, if any, is all that grows with clients).
//
// A sample id is client << 32 | index. The test set is kTestSamples
// samples: test sample j is client (j mod clients)'s test draw j / clients,
// made once at the start (2.4 MB), evaluated in units of kEvalBatch.
#include <torch/nn/functional.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "flb/core/error.h"
#include "flb/data/synthetic.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;

constexpr int64_t kTestSamples = 10000;
constexpr int64_t kEvalBatch = 500;

class SyntheticTask : public Task {
 public:
  SyntheticTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device)
      : config_(c), device_(device), spec_{c.data.synthetic_alpha, c.data.synthetic_beta, c.seed} {
    require(low_rank == nullptr, "--algorithm " + c.algorithm + ": --dataset synthetic trains logistic regression, "
                                 "which has no hidden layer for low-rank or LoRA factors; use fedavg, topk or lbgm (flbench's fedprox is the LoRA baseline)");
    model_ = torch::nn::Linear(data::kSyntheticDim, data::kSyntheticClasses);
    model_->to(device);
    make_test_set();
  }

  std::string describe() const override {
    return "synthetic(" + std::to_string(spec_.alpha) + ", " + std::to_string(spec_.beta) + "), logistic regression";
  }
  torch::nn::Module& model() override { return *model_; }

  int64_t client_sample_count(int64_t c) const override { return data::synthetic_sample_count(spec_, c); }
  const std::vector<int64_t>& client_samples(int64_t c) override {
    ids_.resize(static_cast<size_t>(client_sample_count(c)));
    std::iota(ids_.begin(), ids_.end(), c << 32);
    return ids_;
  }
  int64_t client_stored_bytes(int64_t) const override { return 0; }

  // Every id of a batch is of the client being trained (the trainer's
  // batches are drawn from one client's ids): its model is drawn once.
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override {
    torch::Tensor x = torch::empty({n, data::kSyntheticDim}), y = torch::empty({n}, torch::kInt64);
    float* xp = x.data_ptr<float>();
    int64_t* yp = y.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t client = ids[i] >> 32, index = ids[i] & 0xffffffff;
      yp[i] = data::synthetic_sample(spec_, client_model(client), client, index, /*test=*/false, xp + i * data::kSyntheticDim);
    }
    return {x.to(device_), y.to(device_)};
  }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override { return F::cross_entropy(model_(x), y); }

  std::vector<EvalDomain> eval_domains() const override { return {{"test", true}}; }
  int64_t eval_units() const override { return (kTestSamples + kEvalBatch - 1) / kEvalBatch; }
  std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) override {
    torch::NoGradGuard no_grad;
    std::vector<EvalSums> out;
    for (int64_t u = begin; u < end; ++u) {
      const int64_t start = u * kEvalBatch, n = std::min(kEvalBatch, kTestSamples - start);
      const torch::Tensor logits = model_(test_x_.narrow(0, start, n));
      const torch::Tensor y = test_y_.narrow(0, start, n);
      const double loss = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
      const auto each = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      out.push_back(unit_sums(0, loss, static_cast<double>(logits.argmax(1).eq(y).sum().item<int64_t>()), each.view({n, 1})));
    }
    return out;
  }

 private:
  // The model of `client`, drawn again only when the client changes.
  const data::SyntheticClient& client_model(int64_t client) {
    if (client != cached_client_) {
      cached_ = data::synthetic_client(spec_, client);
      cached_client_ = client;
    }
    return cached_;
  }

  void make_test_set() {
    torch::Tensor x = torch::empty({kTestSamples, data::kSyntheticDim}), y = torch::empty({kTestSamples}, torch::kInt64);
    for (int64_t j = 0; j < kTestSamples; ++j) {
      const int64_t client = j % config_.clients;
      y.data_ptr<int64_t>()[j] = data::synthetic_sample(spec_, client_model(client), client, j / config_.clients,
                                                        /*test=*/true, x.data_ptr<float>() + j * data::kSyntheticDim);
    }
    test_x_ = x.to(device_);
    test_y_ = y.to(device_);
  }

  RunConfig config_;
  torch::Device device_;
  data::SyntheticSpec spec_;
  torch::nn::Linear model_{nullptr};
  std::vector<int64_t> ids_;                  // the last client_samples() answer
  data::SyntheticClient cached_;              // the model of cached_client_
  int64_t cached_client_ = -1;
  torch::Tensor test_x_, test_y_;
};

}  // namespace

std::unique_ptr<Task> make_synthetic_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<SyntheticTask>(c, low_rank, device);
}

}  // namespace flb::sim
