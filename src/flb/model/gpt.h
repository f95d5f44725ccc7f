// A small decoder-only transformer over bytes (GPT-2 shaped, pre-LayerNorm),
// the language model of flbench's federated LoRA fine-tuning.
//
//   idx (B, T) int64 in [0, 256)
//   x = wte[idx] + wpe[0..T)                        (B, T, C)
//   depth x { x += o(attn(q, k, v of ln1(x)));  x += fc2(gelu(fc1(ln2(x)))) }
//   logits = head(ln_f(x))                          (B, T, 256)
//
// q, k, v, o (C -> C), fc1 (C -> 4C) and fc2 (4C -> C) are model::Layer
// linears: with a LowRankSpec, the projections named in `lora_targets`
// become LoRA layers (frozen W0 + s B A), the rest stay dense. Parameter
// names (blocks.0.q.W, head.W, ...) are the same with and without LoRA, so
// a pretrained dense checkpoint loads into a LoRA model (load_parameters).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "flb/model/low_rank.h"

namespace flb::model {

struct GptConfig {
  int64_t context = 64;  // T, the longest sequence
  int64_t width = 96;    // C
  int64_t depth = 3;
  int64_t heads = 4;     // C % heads == 0
};

class Gpt : public torch::nn::Module {
 public:
  // `lora` null: a dense model (pretraining). `targets` among q,k,v,o,fc1,fc2.
  Gpt(const GptConfig& config, const LowRankSpec* lora, const std::vector<std::string>& targets);
  torch::Tensor forward(const torch::Tensor& idx);  // (B, T) -> (B, T, 256)
  const GptConfig& config() const { return config_; }

 private:
  struct Block {
    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
    std::shared_ptr<Layer> q, k, v, o, fc1, fc2;
  };
  GptConfig config_;
  torch::Tensor wte_, wpe_;
  std::vector<Block> blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
  std::shared_ptr<Layer> head_;
  torch::Tensor causal_;  // (T, T) bool, true above the diagonal (masked)
};

// "all" or a comma list of q,k,v,o,fc1,fc2; throws flb::Error on another name.
std::vector<std::string> parse_lora_targets(const std::string& spec);

// Writes every parameter of `model` by name (torch::serialize archive).
void save_parameters(torch::nn::Module& model, const std::string& path);
// Copies every parameter of `path` into the parameter of `model` with the
// same name and shape; parameters absent from the file (LoRA factors) keep
// their values. Throws flb::Error for a missing file, a shape mismatch, or a
// file parameter the model lacks (a different architecture).
void load_parameters(torch::nn::Module& model, const std::string& path);

}  // namespace flb::model
