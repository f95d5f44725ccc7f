// The architecture shared by Llama 2/3.x, Qwen2 and Mistral-style
// checkpoints, as their Hugging Face config.json describes it. The decoder
// (model/llama.h) is built from this struct; hf/config_json.h fills it
// from a config.json and rejects what the decoder cannot run, naming the
// field. flbench's own small models (flbench pretrain) are written with
// the same fields, so the miniature and a real Llama take one code path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::model {

// Llama 3.1/3.2's "rope_scaling": {"rope_type": "llama3", ...}: the
// rotary inverse frequencies are rescaled by wavelength (HF's
// _compute_llama3_parameters). type "" means no scaling.
struct RopeScaling {
  std::string type;                                  // "" or "llama3"
  double factor = 1.0;                               // "factor"
  double low_freq_factor = 1.0;                      // "low_freq_factor"
  double high_freq_factor = 4.0;                     // "high_freq_factor"
  int64_t original_max_position_embeddings = 8192;  // "original_max_position_embeddings"
};

struct LlamaConfig {
  std::string architecture = "LlamaForCausalLM";  // "architectures"[0]: Llama/Qwen2/MistralForCausalLM
  std::string model_type = "llama";                // "model_type": llama, qwen2, mistral
  int64_t vocab_size = 0;                           // V
  int64_t hidden_size = 0;                          // C
  int64_t intermediate_size = 0;                    // F (SwiGLU width)
  int64_t num_hidden_layers = 0;                    // L
  int64_t num_attention_heads = 0;                  // H
  int64_t num_key_value_heads = 0;                  // KV heads (GQA); H % KV == 0
  int64_t head_dim = 0;                             // D; config.json's "head_dim", else C / H
  int64_t max_position_embeddings = 0;              // longest context the checkpoint supports
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;  // lm_head shares embed_tokens' weight
  // Biases: Llama's "attention_bias" puts one on q, k, v and o; Qwen2 has
  // one on q, k, v and none on o; "mlp_bias" on gate, up and down.
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  std::string torch_dtype = "float32";  // float32, bfloat16 or float16: the checkpoint's weights
  int64_t bos_token_id = -1;            // -1: none
  std::vector<int64_t> eos_token_ids;   // "eos_token_id": one id or a list
};

}  // namespace flb::model
