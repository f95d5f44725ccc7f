#include "flb/model/llama_presets.h"

#include <algorithm>

#include "flb/core/error.h"

namespace flb::model {
namespace {

LlamaConfig llama3(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads, int64_t head_dim, bool tied) {
  LlamaConfig c;
  c.vocab_size = 128256;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = 8;
  c.head_dim = head_dim;
  c.max_position_embeddings = 131072;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  c.rope_scaling = {"llama3", 32.0, 1.0, 4.0, 8192};
  c.tie_word_embeddings = tied;
  c.torch_dtype = "bfloat16";
  return c;
}

}  // namespace

const std::vector<std::string>& llama_preset_names() {
  static const std::vector<std::string> names = {"llama-3.2-1b", "llama-3.2-3b", "llama-3-8b", "qwen2-7b"};
  return names;
}

LlamaConfig llama_preset(const std::string& name) {
  if (name == "llama-3.2-1b") return llama3(2048, 8192, 16, 32, 64, /*tied=*/true);
  if (name == "llama-3.2-3b") return llama3(3072, 8192, 28, 24, 128, /*tied=*/true);
  if (name == "llama-3-8b") {
    LlamaConfig c = llama3(4096, 14336, 32, 32, 128, /*tied=*/false);
    c.max_position_embeddings = 8192;
    c.rope_scaling = {};
    return c;
  }
  if (name == "qwen2-7b") {
    LlamaConfig c;
    c.architecture = "Qwen2ForCausalLM";
    c.model_type = "qwen2";
    c.vocab_size = 152064;
    c.hidden_size = 3584;
    c.intermediate_size = 18944;
    c.num_hidden_layers = 28;
    c.num_attention_heads = 28;
    c.num_key_value_heads = 4;
    c.head_dim = 128;
    c.max_position_embeddings = 131072;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.qkv_bias = true;
    c.torch_dtype = "bfloat16";
    return c;
  }
  std::string known;
  for (const auto& n : llama_preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("model preset '" + name + "': choose one of " + known);
}

std::vector<ProjectionShape> lora_projection_shapes(const LlamaConfig& c, const std::vector<std::string>& targets) {
  const int64_t C = c.hidden_size, Q = c.num_attention_heads * c.head_dim, KV = c.num_key_value_heads * c.head_dim,
                F = c.intermediate_size, L = c.num_hidden_layers;
  const std::vector<ProjectionShape> all = {{"q_proj", Q, C, L},    {"k_proj", KV, C, L}, {"v_proj", KV, C, L},
                                            {"o_proj", C, Q, L},    {"gate_proj", F, C, L}, {"up_proj", F, C, L},
                                            {"down_proj", C, F, L}};
  std::vector<ProjectionShape> out;
  for (const auto& p : all)
    if (std::find(targets.begin(), targets.end(), p.name) != targets.end()) out.push_back(p);
  return out;
}

}  // namespace flb::model
