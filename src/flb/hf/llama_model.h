// A Llama-family model from a Hugging Face model directory: config.json
// read and checked (hf/config_json.h), the safetensors weights checked
// against it (hf/llama_checkpoint.h) and loaded (model/llama.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flb/model/llama.h"

namespace flb::hf {

// Builds the decoder of `dir`/config.json, with LoRA layers on
// `lora_targets` when `lora` is not null, and loads `dir`'s weights
// (model.safetensors or a sharded index) into it on the CPU: the frozen
// base in `base_dtype` (converted once, straight from the checkpoint's
// dtype), everything else in float32 (LoRA factors keep their
// initialisation). Throws flb::Error naming the file, field or tensor that
// is wrong.
std::shared_ptr<model::Llama> load_llama(const std::string& dir, const model::LowRankSpec* lora,
                                         const std::vector<std::string>& lora_targets,
                                         torch::Dtype base_dtype = torch::kFloat32);

}  // namespace flb::hf
