// Next-byte prediction over text domains with a small byte-level Llama
// (task.h): the FedSRD paper's heterogeneous-domain LoRA fine-tuning, in
// miniature. The model is the tokens task's decoder with a 256-entry
// vocabulary: a `flbench pretrain` Hugging Face directory (--base) or, without
// one, randomly initialised from --width/--depth/--heads (byte_llama_config).
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
#include "flb/data/partition.h"
#include "flb/data/text_partition.h"
#include "flb/hf/llama_model.h"
#include "flb/model/autocast.h"
#include "flb/model/llama.h"
#include "flb/sim/domain_eval.h"
#include "flb/sim/task.h"

namespace flb::sim {
namespace {

namespace F = torch::nn::functional;
namespace fs = std::filesystem;

constexpr int64_t kBytes = 256;  // the vocabulary: one token per byte value

// --base, when given, is a byte-level Hugging Face directory this context fits.
std::shared_ptr<model::Llama> load_byte_llama(const RunConfig& c, const model::LowRankSpec* low_rank,
                                              const std::vector<std::string>& targets, torch::Dtype base_dtype) {
  const std::string& base = c.model.base;
  require(!fs::is_regular_file(base), "--base: " + base + " is a file; `flbench pretrain` writes a Hugging Face "
                                      "directory (config.json + model.safetensors), not a file: rerun flbench "
                                      "pretrain --out DIR and pass --base DIR");
  require(fs::is_directory(base), "--base: " + base + " does not exist (make it with flbench pretrain --out " + base + ")");
  std::shared_ptr<model::Llama> m = hf::load_llama(base, low_rank, targets, base_dtype);
  require(m->config().vocab_size == kBytes,
          "--base: " + base + " has vocab_size " + std::to_string(m->config().vocab_size) + "; --dataset text "
          "predicts bytes (vocab_size 256, a `flbench pretrain` model); for a tokenizer's vocabulary pass "
          "--dataset tokens --token-dir DIR (make it with flbench tokenize)");
  require(c.data.context <= m->config().max_position_embeddings,
          "--context " + std::to_string(c.data.context) + " exceeds " + base + "'s max_position_embeddings (" +
          std::to_string(m->config().max_position_embeddings) + "): pass --context at most that");
  return m;
}

class TextTask : public Task {
 public:
  TextTask(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) : config_(c), device_(device) {
    // The model first: a wrong --base fails before the corpus is read.
    const std::vector<std::string> targets = model::parse_llama_lora_targets(c.model.lora_targets);
    const torch::Dtype base_dtype = model::parse_base_dtype(c.model.base_dtype);
    model::check_base_dtype_runs(base_dtype, device);
    if (c.model.base.empty()) {
      model_ = std::make_shared<model::Llama>(byte_llama_config(c), low_rank, targets);
      model_->set_base_dtype(base_dtype);
    } else {
      model_ = load_byte_llama(c, low_rank, targets, base_dtype);
    }
    model_->set_activation_checkpointing(c.model.activation_checkpointing);
    model_->set_autocast(model::parse_autocast(c.model.autocast));
    const data::TextCorpusOptions options{c.data.context, c.data.heldout_fraction, c.seed};
    corpus_ = data::load_corpus(c.data.corpus_dir, c.data.domains, options);
    if (has_ood_domains(c.data)) ood_ = data::load_corpus(c.data.corpus_dir, c.data.ood_domains, options);
    const data::TextPartition part = data::partition_text(corpus_, c.clients, {c.data.partition, c.data.dirichlet_alpha, c.seed});
    clients_ = part.chunks;
    validation_ = data::split_validation(clients_, c.data.validation_fraction, c.seed);
    model_->to(device);
    batches_ = std::make_unique<data::TextBatches>(corpus_.train, c.train.batch_size, device);
    make_evaluator();
  }

  std::string describe() const override {
    std::string d;
    for (const auto& n : corpus_.domains) d += (d.empty() ? "" : ",") + n;
    return "text " + d + " (" + config_.data.partition + ", byte-level Llama)";
  }
  torch::nn::Module& model() override { return *model_; }
  int64_t client_sample_count(int64_t c) const override { return static_cast<int64_t>(clients_.at(c).size()); }
  const std::vector<int64_t>& client_samples(int64_t c) override { return clients_.at(c); }
  int64_t client_stored_bytes(int64_t c) const override { return client_sample_count(c) * sizeof(int64_t); }
  std::pair<torch::Tensor, torch::Tensor> batch(const int64_t* ids, int64_t n) override { return batches_->load(ids, n); }

  torch::Tensor loss(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, kBytes}), y.reshape({-1}));
  }
  torch::Tensor losses(const torch::Tensor& x, const torch::Tensor& y) override {
    return F::cross_entropy(model_->forward(x).reshape({-1, kBytes}), y.reshape({-1}),
                            F::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({x.size(0), -1});
  }

  std::vector<EvalDomain> eval_domains() const override { return evaluator_->domains(); }
  int64_t eval_units() const override { return evaluator_->units(); }
  std::vector<EvalSums> evaluate_units(int64_t begin, int64_t end) override { return evaluator_->evaluate(begin, end); }

 private:
  // The first eval_sequences held-out chunks of every domain, kEvalBatch per
  // unit; then a sample of the validation split.
  void make_evaluator() {
    constexpr int64_t kEvalBatch = 32;
    evaluator_ = std::make_unique<DomainEvaluator>(config_.data.eval_sequences, kEvalBatch, *model_,
                                                   [this](const torch::Tensor& x) { return model_->forward(x); });
    evaluator_->add(std::make_unique<data::TextBatches>(corpus_.heldout, kEvalBatch, device_),
                    corpus_.heldout.domain_begin, corpus_.domains, true);
    if (has_ood_domains(config_.data))
      evaluator_->add(std::make_unique<data::TextBatches>(ood_.heldout, kEvalBatch, device_), ood_.heldout.domain_begin,
                      ood_.domains, false);
    if (!validation_.empty())  // as many sequences as the in-domain held-out sets
      evaluator_->add_rows(torch::from_blob(corpus_.train.bytes.data(), {corpus_.train.count(), corpus_.train.chunk_bytes},
                                            torch::kUInt8),
                           validation_sample(validation_, config_.data.eval_sequences * static_cast<int64_t>(corpus_.domains.size())),
                           {"validation", true, /*validation=*/true}, device_);
  }

  RunConfig config_;
  torch::Device device_;
  data::TextCorpus corpus_, ood_;
  std::vector<std::vector<int64_t>> clients_;
  std::vector<int64_t> validation_;  // training chunks kept out of every client (--validation-fraction)
  std::shared_ptr<model::Llama> model_;
  std::unique_ptr<data::TextBatches> batches_;
  std::unique_ptr<DomainEvaluator> evaluator_;
};

}  // namespace

model::LlamaConfig byte_llama_config(const RunConfig& c) {
  model::LlamaConfig l;
  l.vocab_size = kBytes;
  l.hidden_size = c.model.width;
  // SwiGLU's 8/3 C (Llama's ratio, with three matrices costing what a 4 C
  // two-matrix MLP costs), rounded up to a multiple of 32.
  l.intermediate_size = (8 * c.model.width / 3 + 31) / 32 * 32;
  l.num_hidden_layers = c.model.depth;
  l.num_attention_heads = l.num_key_value_heads = c.model.heads;
  l.head_dim = c.model.width / c.model.heads;
  l.max_position_embeddings = c.data.context;
  l.rms_norm_eps = 1e-5;
  l.tie_word_embeddings = true;  // small models spend a large share on embeddings
  model::check_llama_config(l);
  return l;
}

std::unique_ptr<Task> make_text_task(const RunConfig& c, const model::LowRankSpec* low_rank, torch::Device device) {
  return std::make_unique<TextTask>(c, low_rank, device);
}

}  // namespace flb::sim
