#include "flb/algo/tensor_parts.h"

#include <cmath>
#include <cstring>

#include "flb/core/error.h"

namespace flb::algo {

compress::Part dense_part(uint32_t tensor, const torch::Tensor& t) {
  const torch::Tensor host = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  compress::Part part;
  part.kind = compress::PartKind::kDense;
  part.tensor = tensor;
  part.numel = static_cast<uint64_t>(host.numel());
  part.values.resize(part.numel);
  std::memcpy(part.values.data(), host.data_ptr<float>(), part.numel * sizeof(float));
  return part;
}

compress::Part sparse_part(uint32_t tensor, uint64_t numel, const torch::Tensor& indices, const torch::Tensor& values) {
  const auto idx = indices.to(torch::kCPU, torch::kInt32).contiguous();
  const auto val = values.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  compress::Part part;
  part.kind = compress::PartKind::kSparse;
  part.tensor = tensor;
  part.numel = numel;
  part.indices.resize(static_cast<size_t>(idx.numel()));
  part.values.resize(static_cast<size_t>(val.numel()));
  std::memcpy(part.indices.data(), idx.data_ptr<int32_t>(), part.indices.size() * sizeof(uint32_t));
  std::memcpy(part.values.data(), val.data_ptr<float>(), part.values.size() * sizeof(float));
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
  const auto values = torch::from_blob(const_cast<float*>(part.values.data()),
                                       {static_cast<int64_t>(part.values.size())}, torch::kFloat32);
  auto flat = target.view({-1});
  switch (part.kind) {
    case compress::PartKind::kDense:
      flat.add_(values.to(target.device()), scale);
      break;
    case compress::PartKind::kSparse: {
      const auto idx = torch::from_blob(const_cast<uint32_t*>(part.indices.data()),
                                        {static_cast<int64_t>(part.indices.size())}, torch::kInt32)
                           .to(target.device(), torch::kLong);
      flat.index_add_(0, idx, values.to(target.device()), scale);
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
