// One decoder for the Llama family (Llama 2/3.x, Qwen2, Mistral-style), as
// Hugging Face's modeling_llama.py and modeling_qwen2.py compute it:
//
//   x = embed_tokens[idx]                                           (B, T, C)
//   L x { h = rms_norm(x) * input_layernorm
//         q = h Wq^T (+bq)  (B, T, H, D);  k, v = h Wk^T, h Wv^T (+b)  (B, T, KV, D)
//         q, k = rope(q), rope(k)      rotate-half pairs (i, i + D/2), angle pos * inv_freq[i]
//         y = softmax(q k^T / sqrt(D), causal) v    each KV head serves H / KV query heads
//         x += y Wo^T (+bo)
//         h = rms_norm(x) * post_attention_layernorm
//         x += (silu(h Wg^T) * (h Wu^T)) Wd^T }
//   logits = (rms_norm(x) * norm) lm_head^T                         (B, T, V)
//
// inv_freq[i] = rope_theta^(-2i / D), rescaled by wavelength for
// rope_scaling "llama3"; rms_norm(x) = x / sqrt(mean(x^2) + rms_norm_eps).
// With tie_word_embeddings, lm_head is embed_tokens' weight.
//
// Projections are model::Layer linears: with a LowRankSpec, those named in
// `lora_targets` (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
// down_proj) become LoRA layers (frozen W0 + s B A). Parameter names are
// the checkpoint's with the Layer's suffixes ("model.layers.0.self_attn.
// q_proj.W" holds "model.layers.0.self_attn.q_proj.weight");
// checkpoint_name() maps one to the other. Activations are float32 in the
// parameters' device; load_llama_weights converts a bf16/fp16 checkpoint
// to each parameter's dtype.
//
// Memory options (issue 10):
// - set_base_dtype(bf16/fp16) stores the frozen base (W of every
//   projection, embed_tokens, the norms, lm_head) in that dtype; each
//   frozen product runs in it (model::frozen_linear) and returns float32,
//   so backward keeps bf16 inputs, never a float32 copy of the base.
//   LoRA factors and biases stay float32 (and so do their gradients).
// - set_activation_checkpointing(true): while training with grad enabled,
//   each decoder block runs without grad in forward, keeps only its input,
//   and is recomputed with grad in backward (the same LoRA-dropout masks:
//   the default generator's state is saved and restored around it).
// - set_autocast(true) runs forward (and a checkpointed block's recompute)
//   under bfloat16 autocast on the input's device (model/autocast.h):
//   products in bf16, softmax and norms in float32, logits returned as
//   float32 so the loss is computed in float32 (as transformers does).
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flb/model/llama_config.h"
#include "flb/model/low_rank.h"

namespace flb::model {

class Llama : public torch::nn::Module {
 public:
  // REQUIRES: config passed check_llama_config. `lora` null: a dense model.
  Llama(const LlamaConfig& config, const LowRankSpec* lora, const std::vector<std::string>& lora_targets);
  torch::Tensor forward(const torch::Tensor& idx);  // (B, T) int64 in [0, V) -> (B, T, V) float32
  const LlamaConfig& config() const { return config_; }
  // Converts the frozen base (every parameter with a checkpoint name but
  // the biases) to `dtype` in place. Call before training and before
  // load_llama_weights (which then converts straight into `dtype`).
  void set_base_dtype(torch::Dtype dtype);
  void set_activation_checkpointing(bool on) { checkpointing_ = on; }
  void set_autocast(bool bf16) { autocast_ = bf16; }
  bool autocast() const { return autocast_; }

  // One decoder block, x (B, T, C) float32 -> (B, T, C); (cos, sin) (T, D).
  // Public for the checkpointing autograd function.
  torch::Tensor block_forward(size_t block, const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  // The trainable (requires_grad) parameters of block `block`.
  std::vector<torch::Tensor> block_trainable(size_t block) const;

 private:
  struct Block {
    torch::Tensor input_norm, post_norm;  // (C)
    std::shared_ptr<Layer> q, k, v, o, gate, up, down;
  };
  torch::Tensor attention(Block& b, const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin);
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const;

  LlamaConfig config_;
  torch::Tensor embed_;  // (V, C)
  std::vector<Block> blocks_;
  torch::Tensor norm_;                // (C)
  std::shared_ptr<Layer> lm_head_;    // null when tied
  torch::Tensor inv_freq_;            // (D / 2) float32
  std::vector<std::shared_ptr<torch::nn::Module>> layer_modules_;  // model.layers.{i}
  bool checkpointing_ = false;
  bool autocast_ = false;
};

// "float32" | "bfloat16" | "float16" -> the dtype; flb::Error naming
// --base-dtype otherwise.
torch::Dtype parse_base_dtype(const std::string& name);

// Throws flb::Error when this LibTorch cannot multiply `dtype` matrices on
// `device` (1.13 has no float16 matmul on the CPU), saying what to use.
void check_base_dtype_runs(torch::Dtype dtype, torch::Device device);

// Throws flb::Error naming the field when the decoder cannot run `config`
// (sizes not positive, heads not a multiple of KV heads, odd head_dim, an
// unknown rope_scaling type).
void check_llama_config(const LlamaConfig& config);

// The rotary inverse frequencies (D / 2), float32, with llama3 scaling.
torch::Tensor rope_inv_freq(const LlamaConfig& config);

// "all" or a comma list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,
// down_proj (PEFT's target_modules names); throws flb::Error on another.
std::vector<std::string> parse_llama_lora_targets(const std::string& spec);

// The checkpoint's name of a Llama parameter ("...q_proj.W" ->
// "...q_proj.weight", ".bias" unchanged, "...input_layernorm.weight"
// unchanged); "" for a parameter no checkpoint has (LoRA factors U*, D*).
std::string checkpoint_name(const std::string& parameter);

// Copies each parameter's tensor from `lookup(checkpoint_name)` (any float
// dtype, converted to float32 on the parameter's device). A tied model
// ignores a checkpoint's lm_head.weight. Throws flb::Error naming the
// tensor when lookup returns an undefined tensor or a wrong shape.
void load_llama_weights(Llama& model, const std::function<torch::Tensor(const std::string&)>& lookup);

}  // namespace flb::model
