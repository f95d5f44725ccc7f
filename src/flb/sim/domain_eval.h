// Per-domain held-out evaluation shared by the language-model tasks
// (text_task.cc: bytes and a byte-level Llama; token_task.cc: tokens and a Hugging Face Llama).
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

#include "flb/core/config.h"
#include "flb/data/text_batches.h"
#include "flb/sim/task.h"

namespace flb::sim {

// Whether --ood-domains names a domain ("none" or an empty list: no).
bool has_ood_domains(const DataConfig& data);

// For each domain d: the mean next-token cross-entropy (nats) and top-1
// accuracy of `logits` over the chunks [domain_begin[d], domain_begin[d] +
// max_chunks) of `batches` (fewer where domain d has fewer), `batch` chunks
// per forward pass; named names[d], flagged `in_domain`.
// `logits(x)` maps inputs (n, T) int64 to logits (n, T, V).
// REQUIRES: batch <= the max_batch `batches` was built with.
std::vector<DomainEval> evaluate_domains(data::TextBatches& batches, const std::vector<int64_t>& domain_begin,
                                         const std::vector<std::string>& names, bool in_domain, int64_t max_chunks,
                                         int64_t batch, const std::function<torch::Tensor(const torch::Tensor&)>& logits);

}  // namespace flb::sim
