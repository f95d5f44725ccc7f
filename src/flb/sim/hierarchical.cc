#include "flb/sim/hierarchical.h"

#include <torch/torch.h>

#include <cstring>

#include "flb/core/error.h"

namespace flb::sim {
namespace {

constexpr size_t kTallies = 6;

int64_t total_numel(const algo::Tensors& global) {
  int64_t n = 0;
  for (const auto& g : global) n += g.numel();
  return n;
}

}  // namespace

RankSum rank_sum(const algo::Algorithm& algorithm, const std::vector<algo::Upload>& uploads, const algo::Tensors& global,
                 const Tallies& t) {
  torch::NoGradGuard no_grad;
  const int64_t n = total_numel(global);
  RankSum out;
  out.values.assign(static_cast<size_t>(n) + global.size() + kTallies, 0.0);
  // Float32 sums in client order, as rank 0 sums in central mode (the
  // float64 buffer only carries them through the reduction): a float64
  // accumulation took twice central's time here for no digits that matter.
  std::vector<torch::Tensor> acc;
  for (const auto& g : global) acc.push_back(torch::zeros({g.numel()}, torch::kFloat32));
  double* counts = out.values.data() + n;
  double weight = 0;
  for (const algo::Upload& u : uploads) {
    const double w = algorithm.mean_weight(u);
    weight += w;
    for (const compress::Part& p : u.payload.parts) {
      require(p.kind != compress::PartKind::kScalar, "hierarchical aggregation: a scalar part in an upload");
      torch::Tensor& a = acc.at(p.tensor);
      if (p.kind == compress::PartKind::kDense) a.add_(p.values.reshape({-1}), w);
      else a.index_add_(0, p.indices.to(torch::kLong), p.values * w);
      counts[p.tensor] += 1;
    }
  }
  torch::Tensor flat = torch::from_blob(out.values.data(), {n}, torch::kFloat64);
  int64_t at = 0;
  for (const auto& a : acc) {
    flat.narrow(0, at, a.numel()).copy_(a);
    at += a.numel();
  }
  double* tallies = counts + global.size();
  const double values[kTallies] = {weight, t.accepted, t.rejected, t.parts, t.scalar_parts, t.clipped};
  std::memcpy(tallies, values, sizeof values);
  return out;
}

Tallies tallies_of(const RankSum& sum, const algo::Tensors& global) {
  const double* t = sum.values.data() + total_numel(global) + global.size();
  return {t[0], t[1], t[2], t[3], t[4], t[5]};
}

algo::Upload mean_upload(const RankSum& reduced, const algo::Tensors& global, uint16_t wire_id) {
  const int64_t n = total_numel(global);
  require(reduced.values.size() == static_cast<size_t>(n) + global.size() + kTallies,
          "hierarchical aggregation: the reduced sum has the wrong size");
  const double weight = tallies_of(reduced, global).weight;
  require(weight > 0, "no valid upload this round");
  algo::Upload m;
  m.client = 0;
  m.samples = 1;
  m.payload.algorithm = wire_id;
  m.payload.client = 0;
  const double* counts = reduced.values.data() + n;
  int64_t at = 0;
  for (size_t i = 0; i < global.size(); ++i) {
    const int64_t k = global[i].numel();
    if (counts[i] > 0) {
      compress::Part p;
      p.kind = compress::PartKind::kDense;
      p.tensor = static_cast<uint32_t>(i);
      p.numel = static_cast<uint64_t>(k);
      p.values = (torch::from_blob(const_cast<double*>(reduced.values.data()) + at, {k}, torch::kFloat64) / weight)
                     .to(torch::kFloat32);
      m.payload.parts.push_back(std::move(p));
    }
    at += k;
  }
  return m;
}

}  // namespace flb::sim
