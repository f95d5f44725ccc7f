// Next-byte prediction over text domains with a small GPT (task.h): the
// FedSRD paper's heterogeneous-domain LoRA fine-tuning, in miniature.
//
// Clients hold the training chunks of --domains (partitioned by-domain or
// Dirichlet over domains); evaluation covers the held-out documents of
// those domains (in-domain) and of --ood-domains, which no client holds
// (out-of-domain: what fine-tuning keeps of the base model).
#include <torch/nn/functional.h>

#include <filesystem>

#include "flb/core/error.h"

#include "flb/data/text_batches.h"
#include "flb/data/text_corpus.h"
#include "flb/data/text_partition.h"
#include "flb/model/gpt.h"
#include "flb/sim/domain_eval.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;

class TextTask : public Task {
 public:
  TextTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) : config_(c), device_(device) {
    require(c.model.base.empty() || !std::filesystem::is_directory(c.model.base),
            "--base: " + c.model.base + " is a directory (a Hugging Face model?); --dataset text takes a `flbench "
            "pretrain` file; for a Hugging Face Llama pass --dataset tokens --token-dir DIR --base " + c.model.base);
    const data::TextCorpusOptions options{c.data.context, c.data.heldout_fraction, c.seed};
    corpus_ = data::load_corpus(c.data.corpus_dir, c.data.domains, options);
    if (has_ood_domains(c.data)) ood_ = data::load_corpus(c.data.corpus_dir, c.data.ood_domains, options);
    const data::TextPartition part = data::partition_text(corpus_, c.clients, {c.data.partition, c.data.dirichlet_alpha, c.seed});
    clients_ = part.chunks;
    model::GptConfig g{c.data.context, c.model.width, c.model.depth, c.model.heads};
    model_ = std::make_shared<model::Gpt>(g, low_rank, model::parse_lora_targets(c.model.lora_targets));
    if (!c.model.base.empty()) model::load_parameters(*model_, c.model.base);
    model_->to(device);
    batches_ = std::make_unique<data::TextBatches>(corpus_.train, c.train.batch_size, device);
  }

  std::string describe() const override {
    std::string d;
    for (const auto& n : corpus_.domains) d += (d.empty() ? "" : ",") + n;
    return "text " + d + " (" + config_.data.partition + ")";
  }
  torch::nn::Module& model() override { return *model_; }
  const std::vector<std::vector<int64_t>>& client_samples() const override { return clients_; }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).view({-1, 256}), y.reshape({-1}));
  }

  std::vector<std::string> eval_domains() const override {
    std::vector<std::string> names = corpus_.domains;
    if (has_ood_domains(config_.data)) names.insert(names.end(), ood_.domains.begin(), ood_.domains.end());
    return names;
  }

  std::vector<DomainEval> evaluate() override {
    torch::NoGradGuard no_grad;
    model_->eval();
    std::vector<DomainEval> out;
    evaluate_corpus(corpus_, true, out);
    if (has_ood_domains(config_.data)) evaluate_corpus(ood_, false, out);
    model_->train();
    return out;
  }

 private:
  // Mean next-byte loss and accuracy over the first eval_sequences held-out
  // chunks of every domain of `corpus`.
  void evaluate_corpus(const data::TextCorpus& corpus, bool in_domain, std::vector<DomainEval>& out) {
    constexpr int64_t kBatch = 32;
    data::TextBatches batches(corpus.heldout, kBatch, device_);
    const auto evals = evaluate_domains(batches, corpus.heldout.domain_begin, corpus.domains, in_domain,
                                        config_.data.eval_sequences, kBatch,
                                        [&](const torch::Tensor& x) { return model_->forward(x); });
    out.insert(out.end(), evals.begin(), evals.end());
  }

  RunConfig config_;
  torch::Device device_;
  data::TextCorpus corpus_, ood_;
  std::vector<std::vector<int64_t>> clients_;
  std::shared_ptr<model::Gpt> model_;
  std::unique_ptr<data::TextBatches> batches_;
};

}  // namespace

std::unique_ptr<Task> make_text_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<TextTask>(c, low_rank, device);
}

}  // namespace flb::sim
