#include "flb/data/synthetic.h"

#include <cmath>

#include "flb/core/rng.h"

namespace flb::data {
namespace {

constexpr uint64_t kTestKey = uint64_t{1} << 62;  // test samples' stream keys start here

int64_t draw_count(Stream& s) { return static_cast<int64_t>(std::floor(std::exp(4.0 + 2.0 * s.normal()))) + 50; }

}  // namespace

int64_t synthetic_sample_count(const SyntheticSpec& spec, int64_t client) {
  Stream s(spec.seed, StreamPurpose::kSynthetic, static_cast<uint64_t>(client), 0);
  return draw_count(s);
}

SyntheticClient synthetic_client(const SyntheticSpec& spec, int64_t client) {
  Stream s(spec.seed, StreamPurpose::kSynthetic, static_cast<uint64_t>(client), 0);
  SyntheticClient c;
  c.samples = draw_count(s);
  const double u = spec.alpha * s.normal(), B = spec.beta * s.normal();
  c.W.resize(kSyntheticClasses * kSyntheticDim);
  for (float& w : c.W) w = static_cast<float>(u + s.normal());
  c.b.resize(kSyntheticClasses);
  for (float& b : c.b) b = static_cast<float>(u + s.normal());
  c.v.resize(kSyntheticDim);
  for (float& v : c.v) v = static_cast<float>(B + s.normal());
  return c;
}

int64_t synthetic_sample(const SyntheticSpec& spec, const SyntheticClient& m, int64_t client, int64_t index, bool test,
                         float* x) {
  Stream s(spec.seed, StreamPurpose::kSynthetic, static_cast<uint64_t>(client),
           (test ? kTestKey : 1) + static_cast<uint64_t>(index));
  for (int64_t j = 0; j < kSyntheticDim; ++j)  // x_j ~ N(v_j, (j + 1)^-1.2)
    x[j] = static_cast<float>(m.v[j] + std::pow(static_cast<double>(j + 1), -0.6) * s.normal());
  int64_t label = 0;
  float best = -INFINITY;
  for (int64_t c = 0; c < kSyntheticClasses; ++c) {
    float z = m.b[c];
    for (int64_t j = 0; j < kSyntheticDim; ++j) z += m.W[c * kSyntheticDim + j] * x[j];
    if (z > best) {
      best = z;
      label = c;
    }
  }
  return label;
}

}  // namespace flb::data
