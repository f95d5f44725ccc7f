#include "flb/sim/domain_eval.h"

#include <torch/nn/functional.h>

#include <algorithm>

namespace flb::sim {

namespace F = torch::nn::functional;

bool has_ood_domains(const DataConfig& data) {
  const auto& d = data.ood_domains;
  return !d.empty() && !(d.size() == 1 && (d[0] == "none" || d[0].empty()));
}

std::vector<DomainEval> evaluate_domains(data::TextBatches& batches, const std::vector<int64_t>& domain_begin,
                                         const std::vector<std::string>& names, bool in_domain, int64_t max_chunks,
                                         int64_t batch, const std::function<torch::Tensor(const torch::Tensor&)>& logits) {
  std::vector<DomainEval> out;
  std::vector<int64_t> ids(static_cast<size_t>(batch));
  for (size_t d = 0; d < names.size(); ++d) {
    const int64_t begin = domain_begin[d];
    const int64_t end = std::min(domain_begin[d + 1], begin + max_chunks);
    double loss_sum = 0, correct = 0, tokens = 0;
    for (int64_t at = begin; at < end; at += batch) {
      const int64_t n = std::min(batch, end - at);
      for (int64_t i = 0; i < n; ++i) ids[i] = at + i;
      auto [x, y] = batches.load(ids.data(), n);
      const auto scores = logits(x);
      const auto flat = scores.reshape({-1, scores.size(-1)});
      const auto target = y.reshape({-1});
      loss_sum += F::cross_entropy(flat, target, F::CrossEntropyFuncOptions().reduction(torch::kSum)).item<double>();
      correct += static_cast<double>(flat.argmax(1).eq(target).sum().item<int64_t>());
      tokens += static_cast<double>(target.numel());
    }
    out.push_back({names[d], in_domain, tokens > 0 ? loss_sum / tokens : 0.0, tokens > 0 ? correct / tokens : 0.0});
  }
  return out;
}

}  // namespace flb::sim
