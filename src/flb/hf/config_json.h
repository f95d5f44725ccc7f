// Hugging Face config.json <-> model::LlamaConfig, for the architectures
// flbench's Llama-family decoder runs: LlamaForCausalLM, Qwen2ForCausalLM,
// MistralForCausalLM.
//
// Fields read (config.json name -> LlamaConfig):
//   architectures[0]          architecture (required; one of the three above)
//   model_type                must match it (llama, qwen2, mistral); default: the architecture's
//   vocab_size, hidden_size, intermediate_size, num_hidden_layers,
//   num_attention_heads, max_position_embeddings      required positive integers
//   num_key_value_heads       default num_attention_heads; must divide it
//   head_dim                  default hidden_size / num_attention_heads (must divide then)
//   rms_norm_eps (1e-6), rope_theta (10000)           positive numbers
//   rope_scaling              null, {"rope_type"|"type": "default"} (none), or
//                             "llama3" with factor, low_freq_factor, high_freq_factor,
//                             original_max_position_embeddings (all required)
//   rope_parameters           transformers 5's layout instead of the two above: one
//                             object with rope_type, rope_theta and llama3's fields
//                             (refused together with a non-null rope_scaling)
//   tie_word_embeddings       default false
//   attention_bias, mlp_bias  Llama: attention_bias -> qkv_bias and o_bias; mlp_bias
//                             Qwen2: qkv_bias = true, o_bias = false (fixed by the architecture)
//                             Mistral: no biases
//   torch_dtype (or "dtype")  float32, bfloat16, float16; default float32
//   bos_token_id, eos_token_id   integer or null; eos also a list of integers
//   hidden_act                must be "silu" (default)
//   sliding_window, use_sliding_window   see below
//
// Refused with flb::Error "FILE: FIELD: what is wrong" (naming the field):
// a missing required field, a value of the wrong JSON type or out of range,
// an architecture other than the three (the message lists them), a
// rope_scaling type other than llama3/default, hidden_act other than silu,
// attention_dropout other than 0, a "quantization_config", a model_type
// that contradicts the architecture.
//
// Sliding-window attention: flbench's decoder attends over the whole
// context. Where a checkpoint enables a window (Mistral: sliding_window not
// null; Qwen2: use_sliding_window true) smaller than
// max_position_embeddings, full attention equals the window's only for
// contexts up to the window, so max_position_embeddings is lowered to the
// window (Mistral-7B-v0.1: 32768 -> 4096) and no context longer than that
// is run. A window at least max_position_embeddings changes nothing.
// Other fields (initializer_range, use_cache, transformers_version, ...)
// do not change the forward pass and are ignored.
#pragma once

#include <string>

#include "flb/model/llama_config.h"

namespace flb::hf {

// Reads and validates `config_json_path` (above). Throws flb::Error naming
// the file and the field.
model::LlamaConfig read_llama_config(const std::string& config_json_path);

// Writes `config` as a config.json that transformers' AutoConfig /
// AutoModelForCausalLM loads (architectures, model_type, hidden_act
// "silu", every field above, plus initializer_range and use_cache).
// Atomic (path.tmp, then rename). Throws flb::Error naming the field when
// `config` cannot be expressed for its architecture (Qwen2 without q/k/v
// bias or with an o bias, Mistral with biases, Llama with qkv_bias !=
// o_bias, an unknown architecture or dtype), or naming the path when it
// cannot be written.
void write_llama_config(const std::string& path, const model::LlamaConfig& config);

}  // namespace flb::hf
