// The published architectures of the Llama-family checkpoints flbench's
// benchmarks and cluster presets are sized for, as their Hugging Face
// config.json files give them (weights not included): so a benchmark can
// build payloads or server work of a real model's shapes without the
// checkpoint. Names: llama-3.2-1b, llama-3.2-3b, llama-3-8b, qwen2-7b.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/model/llama_config.h"

namespace flb::model {

// The preset's config; flb::Error listing the names for another.
LlamaConfig llama_preset(const std::string& name);
const std::vector<std::string>& llama_preset_names();

// One adapted projection: W is (d_out, d_in), `count` of them (one per layer).
struct ProjectionShape {
  std::string name;  // q_proj, ..., down_proj
  int64_t d_out = 0, d_in = 0, count = 0;
};

// The shapes of the projections in `targets` (parse_llama_lora_targets'
// names), in q, k, v, o, gate, up, down order.
std::vector<ProjectionShape> lora_projection_shapes(const LlamaConfig& config, const std::vector<std::string>& targets);

}  // namespace flb::model
