// Fashion-MNIST classification (task.h).
#include <torch/nn/functional.h>

#include "flb/data/image_batches.h"
#include "flb/data/image_dataset.h"
#include "flb/data/partition.h"
#include "flb/model/image_models.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;

class ImageTask : public Task {
 public:
  ImageTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device)
      : config_(c), device_(device), data_(data::load_fashion_mnist(c.data.data_dir)) {
    clients_ = data::partition(data_.train.labels, data_.train.classes, c.clients,
                               {c.data.partition, c.data.dirichlet_alpha, c.data.shards_per_client, c.seed});
    model_ = model::make_image_model(c.train.model, data_.train.classes, low_rank);
    model_->to(device);
    batches_ = std::make_unique<data::ImageBatches>(data_.train, c.train.batch_size, device);
  }

  std::string describe() const override { return "fashion-mnist (" + config_.data.partition + ")"; }
  torch::nn::Module& model() override { return *model_; }
  const std::vector<std::vector<int64_t>>& client_samples() const override { return clients_; }

  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x), y);
  }

  std::vector<std::string> eval_domains() const override { return {"test"}; }

  std::vector<DomainEval> evaluate() override {
    torch::NoGradGuard no_grad;
    model_->eval();
    constexpr int64_t kBatch = 500;
    data::ImageBatches batches(data_.test, kBatch, device_);
    std::vector<int64_t> ids(static_cast<size_t>(kBatch));
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t start = 0; start < data_.test.count; start += kBatch) {
      const int64_t n = std::min(kBatch, data_.test.count - start);
      for (int64_t i = 0; i < n; ++i) ids[i] = start + i;
      auto [x, y] = batches.load(ids.data(), n);
      auto logits = model_->forward(x);
      loss_sum += F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }
    model_->train();
    const double count = static_cast<double>(data_.test.count);
    return {{"test", true, loss_sum / count, static_cast<double>(correct) / count}};
  }

 private:
  RunConfig config_;
  torch::Device device_;
  data::TrainTest data_;
  std::vector<std::vector<int64_t>> clients_;
  std::shared_ptr<model::ImageClassifier> model_;
  std::unique_ptr<data::ImageBatches> batches_;
};

}  // namespace

std::unique_ptr<Task> make_image_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<ImageTask>(c, low_rank, device);
}

std::unique_ptr<Task> make_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  if (c.data.dataset == "text") return make_text_task(c, low_rank, device);
  if (c.data.dataset == "tokens") return make_token_task(c, low_rank, device);
  return make_image_task(c, low_rank, device);
}

}  // namespace flb::sim
