// sim/update_clipping.h against Eigen: the norm of an upload is the norm
// of all its parts' values laid end to end; a clipped upload keeps its
// direction and has the clip's norm; one within the clip is untouched.
#include "flb/sim/update_clipping.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <vector>

#include "flb/core/error.h"

namespace flb::sim {
namespace {

compress::Payload upload_of(const std::vector<std::vector<float>>& parts) {
  compress::Payload p;
  uint32_t tensor = 0;
  for (const std::vector<float>& v : parts) {
    compress::Part part;
    part.tensor = tensor++;
    part.numel = v.size();
    part.values = torch::tensor(v, torch::kFloat32);
    p.parts.push_back(part);
  }
  return p;
}

// Every value of every part, end to end.
Eigen::VectorXd flat(const compress::Payload& p) {
  std::vector<double> all;
  for (const compress::Part& part : p.parts)
    for (float v : compress::values_of(part)) all.push_back(v);
  return Eigen::Map<Eigen::VectorXd>(all.data(), static_cast<Eigen::Index>(all.size()));
}

TEST(UpdateClipping, NormIsEigensAndAClippedUploadKeepsItsDirection) {
  torch::manual_seed(3);
  const auto values = [](int64_t n, double scale) {
    const torch::Tensor t = torch::randn({n}) * scale;
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + n);
  };
  double worst_norm = 0, worst_direction = 0;
  for (double scale : {1e-4, 1.0, 250.0}) {
    const compress::Payload original = upload_of({values(1000, scale), values(37, scale), values(4096, scale)});
    const Eigen::VectorXd x = flat(original);
    const double norm = update_norm(original);
    worst_norm = std::max(worst_norm, std::abs(norm - x.norm()) / x.norm());
    EXPECT_NEAR(norm, x.norm(), 1e-12 * x.norm());
    for (double cap : {0.5 * norm, 2.0 * norm}) {
      compress::Payload clipped = original;  // shares the parts' storage: clipping must not write through
      const bool did = clip_update(clipped, cap);
      EXPECT_EQ(did, cap < norm);
      EXPECT_TRUE(flat(original) == x) << "the original values were written through";
      const Eigen::VectorXd y = flat(clipped);
      const double want = std::min(cap, norm);
      EXPECT_NEAR(y.norm(), want, 1e-6 * want);
      const double cosine = x.dot(y) / (x.norm() * y.norm());
      worst_direction = std::max(worst_direction, 1 - cosine);
      EXPECT_GT(cosine, 1 - 1e-9);
    }
  }
  std::printf("norm vs Eigen: max relative difference %.2e (tolerance 1e-12); 1 - cosine after clipping %.2e (tolerance 1e-9)\n",
              worst_norm, worst_direction);
}

TEST(UpdateClipping, OffAtZeroAndRefusesScalarParts) {
  compress::Payload p = upload_of({{3.0f, 4.0f}});
  EXPECT_EQ(update_norm(p), 5.0);
  EXPECT_FALSE(clip_update(p, 0));
  EXPECT_TRUE(clip_update(p, 1));
  EXPECT_NEAR(update_norm(p), 1.0, 1e-7);
  compress::Payload scalar = upload_of({{1.0f}});
  scalar.parts[0].kind = compress::PartKind::kScalar;
  EXPECT_THROW(clip_update(scalar, 1), Error);
}

}  // namespace
}  // namespace flb::sim
