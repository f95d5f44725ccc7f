// The tensors a Llama-family checkpoint must hold, named as Hugging Face
// names them, and the check that a checkpoint holds them.
//
// For a config with L layers, V vocab, C hidden, F intermediate, H heads,
// KV key/value heads of D dims:
//   model.embed_tokens.weight                          [V, C]
//   model.layers.{i}.input_layernorm.weight            [C]
//   model.layers.{i}.self_attn.q_proj.weight           [H*D, C]    (+ .bias [H*D] if qkv_bias)
//   model.layers.{i}.self_attn.k_proj.weight           [KV*D, C]   (+ .bias [KV*D] if qkv_bias)
//   model.layers.{i}.self_attn.v_proj.weight           [KV*D, C]   (+ .bias [KV*D] if qkv_bias)
//   model.layers.{i}.self_attn.o_proj.weight           [C, H*D]    (+ .bias [C] if o_bias)
//   model.layers.{i}.post_attention_layernorm.weight   [C]
//   model.layers.{i}.mlp.gate_proj.weight              [F, C]      (+ .bias [F] if mlp_bias)
//   model.layers.{i}.mlp.up_proj.weight                [F, C]      (+ .bias [F] if mlp_bias)
//   model.layers.{i}.mlp.down_proj.weight              [C, F]      (+ .bias [C] if mlp_bias)
//   model.norm.weight                                  [C]
//   lm_head.weight                                     [V, C]      unless tie_word_embeddings
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/hf/safetensors.h"
#include "flb/model/llama_config.h"

namespace flb::hf {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};

// Every tensor of the table above for `config`, in that order.
std::vector<ExpectedTensor> llama_tensor_shapes(const model::LlamaConfig& config);

// Checks that `checkpoint` holds every tensor llama_tensor_shapes(config)
// names, with that shape and with config.torch_dtype's dtype (float32 F32,
// bfloat16 BF16, float16 F16). Other tensors (a tied checkpoint's
// lm_head.weight, old checkpoints' rotary_emb.inv_freq) are allowed and
// ignored. Throws flb::Error on the first mismatch, naming the file, the
// tensor, and the expected against the found shape or dtype (or that it
// is missing).
void check_checkpoint_matches(const model::LlamaConfig& config, const SafetensorsCheckpoint& checkpoint);

}  // namespace flb::hf
