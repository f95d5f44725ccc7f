#include "eval.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "flb/core/error.h"
#include "flb/data/token_shard.h"
#include "flb/hf/llama_model.h"
#include "flb/hf/peft_export.h"

namespace flbench {
namespace fs = std::filesystem;

namespace {

void check_options(const EvalOptions& o) {
  std::error_code ec;
  flb::require(fs::is_directory(o.base, ec), "--base " + o.base + ": not a directory (give a Hugging Face model "
                                             "directory with config.json and model.safetensors)");
  flb::require(o.context >= 1, "--context " + std::to_string(o.context) + ": must be at least 1");
  flb::require(o.eval_sequences >= 1, "--eval-sequences " + std::to_string(o.eval_sequences) + ": must be at least 1");
  flb::require(o.batch_size >= 1, "--batch-size " + std::to_string(o.batch_size) + ": must be at least 1");
}

void check_context(const EvalOptions& o, const flb::model::LlamaConfig& c) {
  flb::require(o.context <= c.max_position_embeddings,
               "--context " + std::to_string(o.context) + ": longer than the model's max_position_embeddings " +
                   std::to_string(c.max_position_embeddings) + " (" + o.base + "/config.json): pass --context " +
                   std::to_string(c.max_position_embeddings) + " or less");
}

// min(N, (n - 1) / T): a window needs T inputs and the token after them.
int64_t count_windows(const EvalOptions& o, const flb::data::TokenShard& shard) {
  const int64_t windows = std::min(o.eval_sequences, std::max<int64_t>(shard.size() - 1, 0) / o.context);
  flb::require(windows > 0, "--tokens " + o.tokens + ": " + std::to_string(shard.size()) +
                                " tokens, too few for one window of --context " + std::to_string(o.context) +
                                ": it needs at least " + std::to_string(o.context + 1) + " tokens (or a smaller --context)");
  return windows;
}

// Tokens [first * T, (first + count) * T + 1) as int64: windows first ..
// first + count - 1 and the token after the last one.
torch::Tensor read_windows(const flb::data::TokenShard& shard, int64_t first, int64_t count, int64_t T) {
  const std::vector<uint32_t> ids = shard.tokens(first * T, count * T + 1);
  return torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64);
}

// Sum over the batch's target tokens of -log p(target | inputs).
// flat is (count * T + 1): inputs (count, T) and targets (count, T) one apart.
double summed_cross_entropy(flb::model::Llama& model, const torch::Tensor& flat, int64_t count, int64_t T) {
  const torch::Tensor inputs = flat.narrow(0, 0, count * T).view({count, T});
  const torch::Tensor targets = flat.narrow(0, 1, count * T).view({count, T, 1});
  const torch::Tensor logp = torch::log_softmax(model.forward(inputs), -1);  // (count, T, V)
  return -logp.gather(-1, targets).to(torch::kFloat64).sum().item<double>();
}

void print_result(const EvalResult& r, const EvalOptions& o) {
  if (o.json) {
    // exp overflows only for a loss over ~709 nats; JSON has no inf.
    if (std::isfinite(r.perplexity))
      std::printf("{\"loss\": %.17g, \"perplexity\": %.17g, \"tokens\": %lld}\n", r.loss, r.perplexity,
                  static_cast<long long>(r.tokens));
    else
      std::printf("{\"loss\": %.17g, \"perplexity\": null, \"tokens\": %lld}\n", r.loss,
                  static_cast<long long>(r.tokens));
    return;
  }
  std::printf("eval: %s on %s: loss %.6f nats, perplexity %.4f over %lld tokens (%lld windows of %lld)\n",
              o.base.c_str(), o.tokens.c_str(), r.loss, r.perplexity, static_cast<long long>(r.tokens),
              static_cast<long long>(r.windows), static_cast<long long>(o.context));
}

}  // namespace

EvalResult evaluate(const EvalOptions& o) {
  check_options(o);
  const std::shared_ptr<flb::model::Llama> model =
      o.adapter.empty() ? flb::hf::load_llama(o.base, /*lora=*/nullptr, {}) : flb::hf::load_llama_with_adapter(o.base, o.adapter);
  check_context(o, model->config());
  const flb::data::TokenShard shard = flb::data::TokenShard::open(o.tokens, model->config().vocab_size);
  const int64_t windows = count_windows(o, shard);
  model->eval();
  torch::NoGradGuard no_grad;
  double total = 0;
  for (int64_t first = 0; first < windows; first += o.batch_size) {
    const int64_t count = std::min(o.batch_size, windows - first);
    total += summed_cross_entropy(*model, read_windows(shard, first, count, o.context), count, o.context);
  }
  EvalResult r;
  r.windows = windows;
  r.tokens = windows * o.context;
  r.loss = total / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

int run_eval(const EvalOptions& o) {
  if (o.threads > 0) torch::set_num_threads(o.threads);
  try {
    print_result(evaluate(o), o);
    return 0;
  } catch (const flb::Error& e) {
    std::cerr << "flbench eval: error: " << e.what() << "\n";
  } catch (const c10::Error& e) {
    // LibTorch's message without its backtrace, first line only.
    const std::string m = e.what_without_backtrace();
    std::cerr << "flbench eval: error: " << m.substr(0, m.find('\n')) << "\n";
  }
  return 1;
}

}  // namespace flbench
