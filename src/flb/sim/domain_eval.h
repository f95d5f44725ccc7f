// Per-domain held-out evaluation shared by the language-model tasks
// (text_task.cc: bytes and a byte-level Llama; token_task.cc: tokens and a
// Hugging Face Llama), cut into units for evaluation.h.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "flb/core/config.h"
#include "flb/data/text_batches.h"
#include "flb/sim/task.h"

namespace flb::sim {

// Whether --ood-domains names a domain ("none" or an empty list: no).
bool has_ood_domains(const DataConfig& data);

// The held-out chunks of one or more sets of domains (in-domain, then
// out-of-domain). For each domain in the order added, its first
// `max_chunks` held-out chunks (fewer where it has fewer), `batch` per
// unit: a unit is one forward pass. The loss of a unit is the summed
// next-token cross-entropy (nats) of its chunks' predictions.
class DomainEvaluator {
 public:
  // `logits(x)` maps inputs (n, T) int64 to logits (n, T, V) with `model`,
  // which evaluate() puts in eval mode (and back in train mode after).
  DomainEvaluator(int64_t max_chunks, int64_t batch, torch::nn::Module& model,
                  std::function<torch::Tensor(const torch::Tensor&)> logits);

  // One set of domains: `batches` over its held-out chunks (built with
  // max_batch >= batch), domain d's chunks [domain_begin[d], domain_begin[d + 1]).
  void add(std::unique_ptr<data::TextBatches> batches, const std::vector<int64_t>& domain_begin,
           const std::vector<std::string>& names, bool in_domain);

  // One more domain of the rows `ids` of `chunks` ((count, T+1) uint8 or
  // int32, CPU: a training set; the validation split of the clients'
  // chunks, --validation-fraction), in the given order, copied into a
  // tensor of their own: the device then holds the sample, not a second
  // copy of the whole training set. Evaluated whole: pick `ids` small
  // enough (validation_sample).
  void add_rows(const torch::Tensor& chunks, const std::vector<int64_t>& ids, const EvalDomain& domain,
                torch::Device device);

  const std::vector<EvalDomain>& domains() const { return domains_; }
  int64_t units() const { return static_cast<int64_t>(units_.size()); }
  // The sums of units [begin, end), without grad. REQUIRES: 0 <= begin <= end <= units().
  std::vector<EvalSums> evaluate(int64_t begin, int64_t end);

 private:
  struct Unit {
    size_t set;      // index into sets_
    int64_t domain;  // index into domains_
    int64_t first;   // first chunk
    int64_t n;       // chunks
  };
  int64_t max_chunks_, batch_;
  torch::nn::Module& model_;
  std::function<torch::Tensor(const torch::Tensor&)> logits_;
  std::vector<std::unique_ptr<data::TextBatches>> sets_;
  std::vector<EvalDomain> domains_;
  std::vector<Unit> units_;
  std::vector<torch::Tensor> rows_;  // add_rows' copies (a CPU TextBatches reads their storage)
};

// At most `most` of the validation split's chunk ids `ids` (ascending, so
// grouped by domain), evenly spaced: ids[floor(i n / most)], which keeps
// each domain's share. All of them when there are at most `most`.
std::vector<int64_t> validation_sample(const std::vector<int64_t>& ids, int64_t most);

}  // namespace flb::sim
