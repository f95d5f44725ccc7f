#include "flb/hf/llama_checkpoint.h"

#include <sstream>

#include "flb/core/error.h"

namespace flb::hf {

namespace {

std::string dtype_of(const std::string& torch_dtype) {
  if (torch_dtype == "float32") return "F32";
  if (torch_dtype == "bfloat16") return "BF16";
  if (torch_dtype == "float16") return "F16";
  throw Error("torch_dtype \"" + torch_dtype + "\" is not supported (float32, bfloat16, float16)");
}

}  // namespace

std::vector<ExpectedTensor> llama_tensor_shapes(const model::LlamaConfig& c) {
  const int64_t V = c.vocab_size, C = c.hidden_size, F = c.intermediate_size;
  const int64_t q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  std::vector<ExpectedTensor> out;
  auto add = [&](std::string name, std::vector<int64_t> shape) { out.push_back({std::move(name), std::move(shape)}); };
  add("model.embed_tokens.weight", {V, C});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    add(p + "input_layernorm.weight", {C});
    const struct { const char* name; int64_t out, in; bool bias; } proj[] = {
        {"self_attn.q_proj", q, C, c.qkv_bias},   {"self_attn.k_proj", kv, C, c.qkv_bias},
        {"self_attn.v_proj", kv, C, c.qkv_bias},  {"self_attn.o_proj", C, q, c.o_bias},
    };
    for (const auto& l : proj) {
      add(p + l.name + ".weight", {l.out, l.in});
      if (l.bias) add(p + l.name + ".bias", {l.out});
    }
    add(p + "post_attention_layernorm.weight", {C});
    const struct { const char* name; int64_t out, in; } mlp[] = {
        {"mlp.gate_proj", F, C}, {"mlp.up_proj", F, C}, {"mlp.down_proj", C, F}};
    for (const auto& l : mlp) {
      add(p + l.name + ".weight", {l.out, l.in});
      if (c.mlp_bias) add(p + l.name + ".bias", {l.out});
    }
  }
  add("model.norm.weight", {C});
  if (!c.tie_word_embeddings) add("lm_head.weight", {V, C});
  return out;
}

void check_checkpoint_matches(const model::LlamaConfig& config, const SafetensorsCheckpoint& checkpoint) {
  const std::string dtype = dtype_of(config.torch_dtype);
  for (const ExpectedTensor& e : llama_tensor_shapes(config)) {
    if (!checkpoint.has(e.name))
      throw Error(checkpoint.path() + ": tensor '" + e.name + "' is missing (config.json's " + config.architecture +
                  " needs it, shape " + shape_text(e.shape) + ")");
    const TensorInfo& t = checkpoint.info(e.name);
    if (t.shape != e.shape)
      throw Error(t.file + ": tensor '" + e.name + "': shape " + shape_text(t.shape) + ", but config.json says " +
                  shape_text(e.shape));
    if (t.dtype != dtype)
      throw Error(t.file + ": tensor '" + e.name + "': dtype " + t.dtype + ", but config.json's torch_dtype \"" +
                  config.torch_dtype + "\" says " + dtype);
  }
}

}  // namespace flb::hf
