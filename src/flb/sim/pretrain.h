// Central pretraining of the base language model: one process trains a
// dense GPT on the held-in documents of config.data.domains for `steps`
// AdamW/SGD steps and saves it; federated LoRA runs start from it (--base).
#pragma once

#include <cstdint>
#include <string>

#include "flb/core/config.h"

namespace flb::sim {

// Trains and writes `out` (refused if it exists unless `overwrite`).
// Prints held-out loss every `report_every` steps. Throws flb::Error.
void pretrain(const RunConfig& config, int64_t steps, int64_t report_every, const std::string& out, bool overwrite);

}  // namespace flb::sim
