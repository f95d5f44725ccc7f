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
#include "flb/data/text_partition.h"
#include "flb/data/token_corpus.h"
#include "flb/hf/llama_model.h"
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
    vocab_ = model_->config().vocab_size;
    model_->to(device);
    corpus_ = data::load_token_corpus(c.data.token_dir, c.data.domains, c.data.context, vocab_, /*with_train=*/true);
    if (has_ood_domains(c.data)) ood_ = data::load_token_corpus(c.data.token_dir, c.data.ood_domains, c.data.context, vocab_, false);
    clients_ = data::partition_chunks(corpus_.train.domain_begin, c.clients,
                                      {c.data.partition, c.data.dirichlet_alpha, c.seed}).chunks;
    batches_ = std::make_unique<data::TextBatches>(chunks_view(corpus_.train), c.train.batch_size, device);
  }

  std::string describe() const override {
    std::string d;
    for (const auto& n : corpus_.domains) d += (d.empty() ? "" : ",") + n;
    return "tokens " + d + " (" + config_.data.partition + ", Llama V=" + std::to_string(vocab_) + ")";
  }
  torch::nn::Module& model() override { return *model_; }
  const std::vector<std::vector<int64_t>>& client_samples() const override { return clients_; }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, vocab_}), y.reshape({-1}));
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
  // Mean next-token loss (nats) and top-1 accuracy over the first
  // eval_sequences val windows of every domain of `corpus`, in batches of
  // --batch-size windows (logits are batch x T x V floats).
  void evaluate_corpus(data::TokenCorpus& corpus, bool in_domain, std::vector<DomainEval>& out) {
    const int64_t batch = config_.train.batch_size;
    data::TextBatches batches(chunks_view(corpus.val), batch, device_);
    const auto evals = evaluate_domains(batches, corpus.val.domain_begin, corpus.domains, in_domain,
                                        config_.data.eval_sequences, batch,
                                        [&](const torch::Tensor& x) { return model_->forward(x); });
    out.insert(out.end(), evals.begin(), evals.end());
  }

  RunConfig config_;
  torch::Device device_;
  std::shared_ptr<model::Llama> model_;
  int64_t vocab_ = 0;
  data::TokenCorpus corpus_, ood_;
  std::vector<std::vector<int64_t>> clients_;
  std::unique_ptr<data::TextBatches> batches_;
};

}  // namespace

std::unique_ptr<Task> make_token_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<TokenTask>(c, low_rank, device);
}

}  // namespace flb::sim
