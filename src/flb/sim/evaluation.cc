#include "flb/sim/evaluation.h"

#include "flb/core/error.h"
#include "flb/sim/collectively.h"

namespace flb::sim {
namespace {

constexpr size_t kFields = 4;  // domain, loss_sum, correct, count: one unit on the wire

std::vector<double> pack(const std::vector<EvalSums>& units) {
  std::vector<double> out;
  out.reserve(units.size() * kFields);
  for (const auto& u : units) out.insert(out.end(), {static_cast<double>(u.domain), u.loss_sum, u.correct, u.count});
  return out;
}

std::vector<EvalSums> unpack(const std::vector<double>& values) {
  require(values.size() % kFields == 0, "evaluation: gathered " + std::to_string(values.size()) +
                                            " values, not a whole number of units");
  std::vector<EvalSums> out(values.size() / kFields);
  for (size_t i = 0; i < out.size(); ++i) {
    const double* v = &values[i * kFields];
    out[i] = {static_cast<int64_t>(v[0]), v[1], v[2], v[3]};
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
  }
  std::vector<DomainEval> out;
  for (size_t d = 0; d < domains.size(); ++d) {
    const EvalSums& t = total[d];
    out.push_back({domains[d].name, domains[d].in_domain, t.count > 0 ? t.loss_sum / t.count : 0.0,
                   t.count > 0 ? t.correct / t.count : 0.0});
  }
  return out;
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
