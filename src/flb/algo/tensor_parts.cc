#include "flb/algo/tensor_parts.h"

#include <cmath>
#include <limits>

#include "flb/core/error.h"

namespace flb::algo {

compress::Part dense_part(uint32_t tensor, const torch::Tensor& t) {
  compress::Part part;
  part.kind = compress::PartKind::kDense;
  part.tensor = tensor;
  part.values = t.detach().to(torch::kFloat32).contiguous().reshape({-1});
  part.numel = static_cast<uint64_t>(part.values.numel());
  return part;
}

compress::Part sparse_part(uint32_t tensor, uint64_t numel, const torch::Tensor& indices, const torch::Tensor& values) {
  compress::Part part;
  part.kind = compress::PartKind::kSparse;
  part.tensor = tensor;
  part.numel = numel;
  part.indices = indices.to(torch::kInt32).contiguous().reshape({-1});
  part.values = values.detach().to(torch::kFloat32).contiguous().reshape({-1});
  return part;
}

int64_t top_k_count(double ratio, int64_t numel) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(ratio * static_cast<double>(numel))));
}

compress::Part top_k_part(uint32_t tensor, const torch::Tensor& g, int64_t k, torch::Tensor* kept) {
  torch::NoGradGuard no_grad;
  const auto flat = g.reshape({-1});
  k = std::min<int64_t>(std::max<int64_t>(k, 0), flat.numel());
  auto idx = std::get<1>(flat.abs().topk(k, /*dim=*/0, /*largest=*/true, /*sorted=*/false));
  idx = std::get<0>(idx.sort());
  const auto values = flat.index_select(0, idx);
  if (kept) {
    *kept = torch::zeros_like(flat);
    kept->index_copy_(0, idx, values);
    *kept = kept->view(g.sizes());
  }
  return sparse_part(tensor, static_cast<uint64_t>(flat.numel()), idx, values);
}

void add_part(torch::Tensor& target, const compress::Part& part, float scale) {
  require(static_cast<uint64_t>(target.numel()) == part.numel, "add_part: part does not match the tensor's size");
  torch::NoGradGuard no_grad;
  auto flat = target.view({-1});
  switch (part.kind) {
    case compress::PartKind::kDense:
      flat.add_(part.values.to(target.device()), scale);
      break;
    case compress::PartKind::kSparse: {
      auto idx = part.indices.to(target.device(), torch::kLong);
      // Positions are uint32 bits in int32: past 2^31 they read negative.
      if (part.numel > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) idx.bitwise_and_(static_cast<int64_t>(0xffffffff));
      flat.index_add_(0, idx, part.values.to(target.device()), scale);
      break;
    }
    case compress::PartKind::kScalar:
      throw Error("add_part: a scalar part has no tensor values");
  }
}

torch::Tensor part_to_dense(const compress::Part& part, const torch::Tensor& like) {
  auto out = torch::zeros(like.sizes(), torch::TensorOptions().dtype(torch::kFloat32));
  add_part(out, part);
  return out;
}

}  // namespace flb::algo
