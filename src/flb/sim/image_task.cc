// Fashion-MNIST classification (task.h).
#include <torch/nn/functional.h>

#include <algorithm>
#include <memory>

#include "flb/data/image_batches.h"
#include "flb/data/image_dataset.h"
#include "flb/data/partition.h"
#include "flb/model/image_models.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;

constexpr int64_t kEvalBatch = 500;  // test images per evaluation unit

class ImageTask : public Task {
 public:
  ImageTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device)
      : config_(c), device_(device), data_(data::load_fashion_mnist(c.data.data_dir)) {
    clients_ = data::partition(data_.train.labels, data_.train.classes, c.clients,
                               {c.data.partition, c.data.dirichlet_alpha, c.data.shards_per_client, c.seed});
    validation_ = data::split_validation(clients_, c.data.validation_fraction, c.seed);
    // after the validation split, so its draws are those of a run without this option
    held_out_ = data::hold_out(clients_, c.data.personal_fraction, c.seed, StreamPurpose::kPersonal);
    model_ = model::make_image_model(c.train.model, data_.train.classes, low_rank);
    model_->to(device);
    batches_ = std::make_unique<data::ImageBatches>(data_.train, c.train.batch_size, device);
  }

  std::string describe() const override { return "fashion-mnist (" + config_.data.partition + ")"; }
  torch::nn::Module& model() override { return *model_; }
  int64_t client_sample_count(int64_t c) const override { return static_cast<int64_t>(clients_.at(c).size()); }
  const std::vector<int64_t>& client_samples(int64_t c) override { return clients_.at(c); }
  int64_t client_stored_bytes(int64_t c) const override {
    return static_cast<int64_t>((clients_.at(c).size() + held_out_.at(c).size()) * sizeof(int64_t));
  }
  const std::vector<int64_t>& client_held_out(int64_t c) const override { return held_out_.at(c); }

  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x), y);
  }
  torch::Tensor losses(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x), y, F::CrossEntropyFuncOptions().reduction(torch::kNone)).view({-1, 1});
  }

  // The test set, then the validation split when there is one.
  std::vector<EvalDomain> eval_domains() const override {
    std::vector<EvalDomain> domains = {{"test", true}};
    if (!validation_.empty()) domains.push_back({"validation", true, /*validation=*/true});
    return domains;
  }

  // One unit per kEvalBatch test images, in order; then per kEvalBatch
  // validation images.
  int64_t eval_units() const override { return test_units() + units_of(static_cast<int64_t>(validation_.size())); }

  std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    if (!eval_batches_) eval_batches_ = std::make_unique<data::ImageBatches>(data_.test, kEvalBatch, device_);
    if (!validation_.empty() && !validation_batches_)
      validation_batches_ = std::make_unique<data::ImageBatches>(data_.train, kEvalBatch, device_);
    std::vector<int64_t> ids(static_cast<size_t>(kEvalBatch));
    std::vector<EvalSums> out;
    for (int64_t u = begin; u < end; ++u) {
      const bool validating = u >= test_units();
      const int64_t domain = validating ? 1 : 0;
      const int64_t start = (validating ? u - test_units() : u) * kEvalBatch;
      const int64_t n = std::min(kEvalBatch, (validating ? static_cast<int64_t>(validation_.size()) : data_.test.count) - start);
      for (int64_t i = 0; i < n; ++i) ids[i] = validating ? validation_[static_cast<size_t>(start + i)] : start + i;
      out.push_back(score(*(validating ? validation_batches_ : eval_batches_), ids.data(), n, domain));
    }
    model_->train();
    return out;
  }

  EvalSums evaluate_samples(const std::vector<int64_t>& ids) override {
    torch::NoGradGuard no_grad;
    model_->eval();
    if (!validation_batches_) validation_batches_ = std::make_unique<data::ImageBatches>(data_.train, kEvalBatch, device_);
    EvalSums total;
    for (size_t start = 0; start < ids.size(); start += kEvalBatch) {
      const int64_t n = std::min<int64_t>(kEvalBatch, static_cast<int64_t>(ids.size() - start));
      const EvalSums s = score(*validation_batches_, ids.data() + start, n, 0);
      total.loss_sum += s.loss_sum;
      total.correct += s.correct;
      total.count += s.count;
    }
    model_->train();
    return total;
  }

 private:
  // The sums of the model on the n images `ids` of `images` (one unit of `domain`; an image is an item).
  EvalSums score(data::ImageBatches& images, const int64_t* ids, int64_t n, int64_t domain) {
    auto [x, y] = images.load(ids, n);
    auto logits = model_->forward(x);
    const double loss = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    const double correct = static_cast<double>(logits.argmax(1).eq(y).sum().item<int64_t>());
    const auto each = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    return unit_sums(domain, loss, correct, each.view({n, 1}));
  }

  static int64_t units_of(int64_t images) { return (images + kEvalBatch - 1) / kEvalBatch; }
  int64_t test_units() const { return units_of(data_.test.count); }

  RunConfig config_;
  torch::Device device_;
  data::TrainTest data_;
  std::vector<std::vector<int64_t>> clients_;
  std::vector<int64_t> validation_;  // training-set ids kept out of every client (--validation-fraction)
  std::vector<std::vector<int64_t>> held_out_;  // per client: its own held-out slice (--personal-fraction)
  std::shared_ptr<model::ImageClassifier> model_;
  std::unique_ptr<data::ImageBatches> batches_;
  std::unique_ptr<data::ImageBatches> eval_batches_;  // built at the first evaluation
  std::unique_ptr<data::ImageBatches> validation_batches_;  // over the training images, likewise (also the clients' held-out slices)
};

}  // namespace

std::unique_ptr<Task> make_image_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<ImageTask>(c, low_rank, device);
}

std::unique_ptr<Task> make_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  if (c.data.dataset == "text") return make_text_task(c, low_rank, device);
  if (c.data.dataset == "tokens") return make_token_task(c, low_rank, device);
  if (c.data.dataset == "synthetic") return make_synthetic_task(c, low_rank, device);
  return make_image_task(c, low_rank, device);
}

}  // namespace flb::sim
