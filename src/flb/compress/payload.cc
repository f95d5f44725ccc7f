#include "flb/compress/payload.h"

#include <cstring>

namespace flb::compress {

Part scalar_part(uint32_t tensor, uint64_t numel, const std::vector<float>& values, uint8_t tag) {
  Part part;
  part.kind = PartKind::kScalar;
  part.tag = tag;
  part.tensor = tensor;
  part.numel = numel;
  part.values = torch::empty({static_cast<int64_t>(values.size())}, torch::kFloat32);
  if (!values.empty()) std::memcpy(part.values.data_ptr<float>(), values.data(), values.size() * sizeof(float));
  return part;
}

std::vector<float> values_of(const Part& part) {
  if (!part.values.defined()) return {};
  const torch::Tensor host = part.values.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* p = host.data_ptr<float>();
  return std::vector<float>(p, p + host.numel());
}

std::vector<uint32_t> indices_of(const Part& part) {
  if (!part.indices.defined()) return {};
  const torch::Tensor host = part.indices.to(torch::kCPU, torch::kInt32).contiguous();
  std::vector<uint32_t> out(static_cast<size_t>(host.numel()));
  if (!out.empty()) std::memcpy(out.data(), host.data_ptr<int32_t>(), out.size() * sizeof(uint32_t));
  return out;
}

float value_at(const Part& part, int64_t i) { return part.values[i].item<float>(); }

}  // namespace flb::compress
