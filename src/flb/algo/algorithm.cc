#include "flb/algo/algorithm.h"

namespace flb::algo {

std::vector<uint64_t> numels(const Tensors& tensors) {
  std::vector<uint64_t> n;
  n.reserve(tensors.size());
  for (const auto& t : tensors) n.push_back(static_cast<uint64_t>(t.numel()));
  return n;
}

compress::WireSchema Algorithm::upload_schema(const Tensors& tensors) const {
  return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOnly);
}

compress::WireSchema Algorithm::download_schema(const Tensors& tensors) const {
  return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOrSparse, compress::Presence::kAtMostOnce);
}

}  // namespace flb::algo
