// The small Llama shape the unit tests train: vocabulary 32, hidden 32,
// grouped-query attention (4 heads, 2 KV heads of 8), SwiGLU width 48.
#pragma once

#include <cstdint>

#include "flb/model/llama_config.h"

namespace flb::model::test {

inline LlamaConfig small_llama(int64_t layers = 2) {
  LlamaConfig c;
  c.vocab_size = 32;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.max_position_embeddings = 64;
  return c;
}

}  // namespace flb::model::test
