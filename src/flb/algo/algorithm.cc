#include "flb/algo/algorithm.h"

namespace flb::algo {

std::vector<uint64_t> numels(const Tensors& tensors) {
  std::vector<uint64_t> n;
  n.reserve(tensors.size());
  for (const auto& t : tensors) n.push_back(static_cast<uint64_t>(t.numel()));
  return n;
}

EncodedUpload Algorithm::append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                       std::vector<uint8_t>& out) {
  const compress::Payload payload = encode_upload(ctx, global, local);
  EncodedUpload e;
  for (const compress::Part& part : payload.parts) {
    e.values += static_cast<int64_t>(part.count());
    e.scalar_parts += part.kind == compress::PartKind::kScalar;
  }
  e.bytes = static_cast<int64_t>(compress::encode(payload, out));
  return e;
}

compress::WireSchema Algorithm::upload_schema(const Tensors& tensors) const {
  return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOnly);
}

int64_t Algorithm::catch_up_numel(const Tensors& global) const {
  int64_t n = 0;
  for (const torch::Tensor& t : global) n += t.numel();
  return n;
}

compress::WireSchema Algorithm::download_schema(const Tensors& tensors) const {
  return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOrSparse, compress::Presence::kAtMostOnce);
}

}  // namespace flb::algo
