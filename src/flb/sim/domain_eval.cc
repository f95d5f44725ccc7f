#include "flb/sim/domain_eval.h"

#include <torch/nn/functional.h>

#include <algorithm>
#include <utility>

namespace flb::sim {

namespace F = torch::nn::functional;

bool has_ood_domains(const DataConfig& data) {
  const auto& d = data.ood_domains;
  return !d.empty() && !(d.size() == 1 && (d[0] == "none" || d[0].empty()));
}

DomainEvaluator::DomainEvaluator(int64_t max_chunks, int64_t batch, torch::nn::Module& model,
                                 std::function<torch::Tensor(const torch::Tensor&)> logits)
    : max_chunks_(max_chunks), batch_(batch), model_(model), logits_(std::move(logits)) {}

void DomainEvaluator::add(std::unique_ptr<data::TextBatches> batches, const std::vector<int64_t>& domain_begin,
                          const std::vector<std::string>& names, bool in_domain) {
  const size_t set = sets_.size();
  sets_.push_back(std::move(batches));
  for (size_t d = 0; d < names.size(); ++d) {
    const int64_t domain = static_cast<int64_t>(domains_.size());
    domains_.push_back({names[d], in_domain});
    const int64_t begin = domain_begin[d], end = std::min(domain_begin[d + 1], begin + max_chunks_);
    for (int64_t at = begin; at < end; at += batch_) units_.push_back({set, domain, at, std::min(batch_, end - at)});
  }
}

void DomainEvaluator::add_rows(const torch::Tensor& chunks, const std::vector<int64_t>& ids, const EvalDomain& domain,
                               torch::Device device) {
  const int64_t n = static_cast<int64_t>(ids.size());
  rows_.push_back(chunks.index_select(0, torch::tensor(ids, torch::kLong)).contiguous());
  const size_t set = sets_.size();
  sets_.push_back(std::make_unique<data::TextBatches>(rows_.back(), batch_, device));
  const int64_t index = static_cast<int64_t>(domains_.size());
  domains_.push_back(domain);
  for (int64_t at = 0; at < n; at += batch_) units_.push_back({set, index, at, std::min(batch_, n - at)});
}

std::vector<int64_t> validation_sample(const std::vector<int64_t>& ids, int64_t most) {
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n <= most) return ids;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < most; ++i) out.push_back(ids[static_cast<size_t>(i * n / most)]);
  return out;
}

std::vector<EvalSums> DomainEvaluator::evaluate(int64_t begin, int64_t end) {
  torch::NoGradGuard no_grad;
  model_.eval();
  std::vector<EvalSums> out;
  std::vector<int64_t> ids(static_cast<size_t>(batch_));
  for (int64_t i = begin; i < end; ++i) {
    const Unit& u = units_.at(static_cast<size_t>(i));
    for (int64_t j = 0; j < u.n; ++j) ids[j] = u.first + j;
    auto [x, y] = sets_[u.set]->load(ids.data(), u.n);
    const auto scores = logits_(x);
    const auto flat = scores.reshape({-1, scores.size(-1)});
    const auto target = y.reshape({-1});
    const double loss = F::cross_entropy(flat, target, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
    const double correct = static_cast<double>(flat.argmax(1).eq(target).sum().item<int64_t>());
    const auto each = F::cross_entropy(flat, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    out.push_back(unit_sums(u.domain, loss, correct, each.view({u.n, -1})));  // a sequence is an item
  }
  model_.train();
  return out;
}

}  // namespace flb::sim
