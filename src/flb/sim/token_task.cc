// Next-token prediction over token domains with a Llama-family model from a
// Hugging Face directory (task.h): the FedSRD paper's workload, LoRA on the
// checkpoint's own projections (q_proj .. down_proj).
//
// Clients hold the train.bin windows of --domains (token_corpus.h; split
// by-domain, Dirichlet or iid over domains by partition_chunks); evaluation
// covers the first --eval-sequences val.bin windows of those domains
// (in-domain) and of --ood-domains, which no client holds (out-of-domain).
#include <torch/nn/functional.h>

#include <filesystem>

#include "flb/core/error.h"
#include "flb/data/text_batches.h"
#include "flb/data/partition.h"
#include "flb/data/text_partition.h"
#include "flb/data/token_corpus.h"
#include "flb/hf/llama_model.h"
#include "flb/model/autocast.h"
#include "flb/sim/domain_eval.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;
namespace fs = std::filesystem;

// --base must be a Hugging Face model directory for this task.
void check_hf_base(const std::string& base) {
  require(!base.empty(), "--base: --dataset tokens needs a Hugging Face model directory (config.json + "
                         "model.safetensors): pass --base MODEL_DIR");
  require(!fs::is_regular_file(base), "--base: " + base + " is a file; --dataset tokens takes a Hugging Face "
                                      "model directory: pass --base MODEL_DIR holding config.json and "
                                      "model.safetensors");
  require(fs::is_directory(base), "--base: " + base + " does not exist (pass --base MODEL_DIR, a Hugging Face "
                                  "model directory with config.json and model.safetensors)");
}

// A (count, T+1) int32 CPU view of `table`'s tokens (it must outlive the view).
torch::Tensor chunks_view(data::TokenChunks& table) {
  return torch::from_blob(table.tokens.data(), {table.count(), table.chunk_tokens}, torch::kInt);
}

class TokenTask : public Task {
 public:
  TokenTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) : config_(c), device_(device) {
    check_hf_base(c.model.base);
    const torch::Dtype base_dtype = model::parse_base_dtype(c.model.base_dtype);
    model::check_base_dtype_runs(base_dtype, device);
    model_ = hf::load_llama(c.model.base, low_rank, model::parse_llama_lora_targets(c.model.lora_targets), base_dtype);
    model_->set_activation_checkpointing(c.model.activation_checkpointing);
    model_->set_autocast(model::parse_autocast(c.model.autocast));
    vocab_ = model_->config().vocab_size;
    model_->to(device);
    corpus_ = data::load_token_corpus(c.data.token_dir, c.data.domains, c.data.context, vocab_, /*with_train=*/true);
    if (has_ood_domains(c.data)) ood_ = data::load_token_corpus(c.data.token_dir, c.data.ood_domains, c.data.context, vocab_, false);
    clients_ = data::partition_chunks(corpus_.train.domain_begin, c.clients,
                                      {c.data.partition, c.data.dirichlet_alpha, c.seed}).chunks;
    validation_ = data::split_validation(clients_, c.data.validation_fraction, c.seed);
    batches_ = std::make_unique<data::TextBatches>(chunks_view(corpus_.train), c.train.batch_size, device);
    make_evaluator();
  }

  std::string describe() const override {
    std::string d;
    for (const auto& n : corpus_.domains) d += (d.empty() ? "" : ",") + n;
    return "tokens " + d + " (" + config_.data.partition + ", Llama V=" + std::to_string(vocab_) + ")";
  }
  torch::nn::Module& model() override { return *model_; }
  int64_t client_sample_count(int64_t c) const override { return static_cast<int64_t>(clients_.at(c).size()); }
  const std::vector<int64_t>& client_samples(int64_t c) override { return clients_.at(c); }
  int64_t client_stored_bytes(int64_t c) const override { return client_sample_count(c) * sizeof(int64_t); }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, vocab_}), y.reshape({-1}));
  }
  torch::Tensor losses(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, vocab_}), y.reshape({-1}),
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({x.size(0), -1});
  }

  std::vector<EvalDomain> eval_domains() const override { return evaluator_->domains(); }
  int64_t eval_units() const override { return evaluator_->units(); }
  std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) override { return evaluator_->evaluate(begin, end); }

 private:
  // The first eval_sequences val windows of every domain, --batch-size
  // windows per unit (logits are batch x T x V floats); then a sample of
  // the validation split.
  void make_evaluator() {
    const int64_t batch = config_.train.batch_size;
    evaluator_ = std::make_unique<DomainEvaluator>(config_.data.eval_sequences, batch, *model_,
                                                   [this](const torch::Tensor& x) { return model_->forward(x); });
    evaluator_->add(std::make_unique<data::TextBatches>(chunks_view(corpus_.val), batch, device_),
                    corpus_.val.domain_begin, corpus_.domains, true);
    if (has_ood_domains(config_.data))
      evaluator_->add(std::make_unique<data::TextBatches>(chunks_view(ood_.val), batch, device_), ood_.val.domain_begin,
                      ood_.domains, false);
    if (!validation_.empty())  // as many windows as the in-domain val sets
      evaluator_->add_rows(chunks_view(corpus_.train),
                           validation_sample(validation_, config_.data.eval_sequences * static_cast<int64_t>(corpus_.domains.size())),
                           {"validation", true, /*validation=*/true}, device_);
  }

  RunConfig config_;
  torch::Device device_;
  std::shared_ptr<model::Llama> model_;
  int64_t vocab_ = 0;
  data::TokenCorpus corpus_, ood_;
  std::vector<std::vector<int64_t>> clients_;
  std::vector<int64_t> validation_;  // training windows kept out of every client (--validation-fraction)
  std::unique_ptr<data::TextBatches> batches_;
  std::unique_ptr<DomainEvaluator> evaluator_;
};

}  // namespace

std::unique_ptr<Task> make_token_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<TokenTask>(c, low_rank, device);
}

}  // namespace flb::sim
