#include "flb/sim/update_clipping.h"

#include <cmath>

#include "flb/core/error.h"

namespace flb::sim {

double update_norm(const compress::Payload& upload) {
  double squares = 0;
  for (const compress::Part& part : upload.parts) {
    if (part.count() == 0) continue;
    const torch::Tensor v = part.values.to(torch::kCPU).contiguous();
    const float* x = v.data_ptr<float>();
    for (int64_t i = 0; i < v.numel(); ++i) squares += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  }
  return std::sqrt(squares);
}

bool clip_update(compress::Payload& upload, double max_norm) {
  if (!(max_norm > 0)) return false;
  for (const compress::Part& part : upload.parts)
    require(part.kind != compress::PartKind::kScalar, "--clip-update-norm: an upload with a scalar part has no update norm");
  const double norm = update_norm(upload);
  if (!(norm > max_norm)) return false;
  const float scale = static_cast<float>(max_norm / norm);
  for (compress::Part& part : upload.parts)
    if (part.count() > 0) part.values = part.values * scale;
  return true;
}

}  // namespace flb::sim
