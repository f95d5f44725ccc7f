// flbench eval: the held-out loss of a Hugging Face model on a token shard.
//
//   flbench eval --base DIR --tokens FILE.bin [--adapter DIR] [--context T] [--eval-sequences N] [--json]
//
// The mean next-token cross-entropy (nats) and its perplexity exp(loss)
// over the first N non-overlapping windows of the shard: window i has inputs
// tokens[i*T : i*T+T] and targets tokens[i*T+1 : i*T+T+1], so a shard of n
// tokens has min(N, (n - 1) / T) windows and every target token counts once.
// The model is hf::load_llama's (float32, CPU), with the PEFT LoRA adapter
// of --adapter when given (hf/peft_export.h: what flbench writes with
// --export-adapter, or a PEFT LoRA adapter of the same base).
#pragma once

#include <cstdint>
#include <string>

namespace flbench {

struct EvalOptions {
  std::string base;              // Hugging Face model directory (config.json + safetensors)
  std::string tokens;            // llm.c token shard (data/token_shard.h)
  std::string adapter;           // PEFT LoRA adapter directory; empty: the base model alone
  int64_t context = 128;         // T; at most the model's max_position_embeddings
  int64_t eval_sequences = 64;   // N: windows scored, fewer when the shard is short
  int64_t batch_size = 8;        // windows per forward pass (memory, not the result)
  int threads = 0;               // intra-op threads; 0: LibTorch's default
  bool json = false;             // one JSON object on stdout instead of the human line
};

struct EvalResult {
  double loss = 0;        // mean cross-entropy per target token, nats
  double perplexity = 0;  // exp(loss)
  int64_t tokens = 0;     // target tokens scored (windows * T)
  int64_t windows = 0;
};

// Loads the model and the shard, scores the windows. Throws flb::Error
// naming the option or file when the directory or config is wrong, a token
// is >= the vocabulary, --context is longer than the model's, or the shard
// is too short for one window.
EvalResult evaluate(const EvalOptions& options);

// Runs evaluate and prints the result (stdout) or one line
// "flbench eval: error: ..." (stderr). Returns the exit status: 0, or 1.
int run_eval(const EvalOptions& options);

}  // namespace flbench
