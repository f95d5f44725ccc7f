#include "flb/sim/evaluation.h"

#include <algorithm>
#include <cmath>

#include "flb/core/error.h"
#include "flb/sim/collectively.h"

namespace flb::sim {
namespace {

constexpr size_t kFields = 7;  // domain, loss_sum, correct, count, items, item_loss_sum, item_loss_sq_sum

std::vector<double> pack(const std::vector<EvalSums>& units) {
  std::vector<double> out;
  out.reserve(units.size() * kFields);
  for (const auto& u : units)
    out.insert(out.end(), {static_cast<double>(u.domain), u.loss_sum, u.correct, u.count, u.items, u.item_loss_sum,
                           u.item_loss_sq_sum});
  return out;
}

// sd(item means) / sqrt(items), from the sums (0 for fewer than two items).
double standard_error(const EvalSums& t) {
  if (t.items < 2) return 0.0;
  const double variance = (t.item_loss_sq_sum - t.item_loss_sum * t.item_loss_sum / t.items) / (t.items - 1);
  return std::sqrt(std::max(variance, 0.0) / t.items);
}

std::vector<EvalSums> unpack(const std::vector<double>& values) {
  require(values.size() % kFields == 0, "evaluation: gathered " + std::to_string(values.size()) +
                                            " values, not a whole number of units");
  std::vector<EvalSums> out(values.size() / kFields);
  for (size_t i = 0; i < out.size(); ++i) {
    const double* v = &values[i * kFields];
    out[i] = {static_cast<int64_t>(v[0]), v[1], v[2], v[3], v[4], v[5], v[6]};
  }
  return out;
}

}  // namespace

std::vector<DomainEval> combine_eval(const std::vector<EvalDomain>& domains, const std::vector<EvalSums>& units) {
  std::vector<EvalSums> total(domains.size());
  for (const auto& u : units) {
    require(u.domain >= 0 && u.domain < static_cast<int64_t>(domains.size()),
            "evaluation: unit of domain " + std::to_string(u.domain) + " of " + std::to_string(domains.size()));
    EvalSums& t = total[static_cast<size_t>(u.domain)];
    t.loss_sum += u.loss_sum;
    t.correct += u.correct;
    t.count += u.count;
    t.items += u.items;
    t.item_loss_sum += u.item_loss_sum;
    t.item_loss_sq_sum += u.item_loss_sq_sum;
  }
  std::vector<DomainEval> out;
  for (size_t d = 0; d < domains.size(); ++d) {
    const EvalSums& t = total[d];
    out.push_back({domains[d].name, domains[d].in_domain, t.count > 0 ? t.loss_sum / t.count : 0.0,
                   t.count > 0 ? t.correct / t.count : 0.0, standard_error(t), domains[d].validation});
  }
  return out;
}

EvalSums unit_sums(int64_t domain, double summed_loss, double correct, const torch::Tensor& losses) {
  const torch::Tensor means = losses.to(torch::kFloat64).mean(1);  // m_i, (items)
  EvalSums s{domain, summed_loss, correct, static_cast<double>(losses.numel())};
  s.items = static_cast<double>(losses.size(0));
  s.item_loss_sum = means.sum().item<double>();
  s.item_loss_sq_sum = means.square().sum().item<double>();
  return s;
}

const std::vector<int64_t>& Task::client_held_out(int64_t) const {
  static const std::vector<int64_t> kNone;
  return kNone;
}

torch::Tensor Task::losses(const torch::Tensor&, const torch::Tensor&) {
  throw Error(describe() + ": per-prediction losses are not available, so its clients train one at a time: use "
                           "--client-batch 1");
}

EvalSums Task::evaluate_samples(const std::vector<int64_t>&) {
  throw Error(describe() + ": no per-client held-out samples to evaluate (--personal-fraction is for fashion-mnist)");
}

std::vector<DomainEval> evaluate_all(Task& task) {
  return combine_eval(task.eval_domains(), task.evaluate_units(0, task.eval_units()));
}

std::vector<DomainEval> evaluate_shared(Task& task, comm::Transport& transport) {
  const int64_t units = task.eval_units(), ranks = transport.size(), rank = transport.rank();
  std::vector<EvalSums> mine;
  collectively(transport, [&] { mine = task.evaluate_units(units * rank / ranks, units * (rank + 1) / ranks); });
  const std::vector<double> all = transport.gather_doubles(pack(mine));
  if (rank != 0) return {};
  return combine_eval(task.eval_domains(), unpack(all));
}

}  // namespace flb::sim
