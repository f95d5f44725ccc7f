// Central pretraining of the base language model: one process trains a
// dense byte-level Llama (byte_llama_config, task.h) on the held-in
// documents of config.data.domains for `steps` AdamW/SGD steps and writes
// it as a Hugging Face directory (config.json + model.safetensors, float32);
// federated LoRA runs start from it (--base DIR), by the code path that
// loads a real Llama checkpoint.
#pragma once

#include <cstdint>
#include <string>

#include "flb/core/config.h"

namespace flb::sim {

// Trains and writes the directory `out` (refused if it exists unless
// `overwrite`).
// Prints held-out loss every `report_every` steps. Throws flb::Error.
void pretrain(const RunConfig& config, int64_t steps, int64_t report_every, const std::string& out, bool overwrite);

}  // namespace flb::sim
