#include "flb/core/rng.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace flb {

uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Stream::Stream(uint64_t seed, StreamPurpose purpose, uint64_t a, uint64_t b) {
  uint64_t h = mix64(seed);
  h = mix64(h ^ static_cast<uint64_t>(purpose));
  h = mix64(h ^ mix64(a + 0x632be59bd9b4e019ULL));
  h = mix64(h ^ mix64(b + 0x8cb92ba72f3d8dd7ULL));
  for (auto& s : s_) {
    h = mix64(h);
    s = h;
  }
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the one forbidden state
}

uint64_t Stream::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Stream::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

uint64_t Stream::below(uint64_t n) {
  // Rejection of the few values that would make `% n` biased.
  const uint64_t threshold = (0 - n) % n;  // 2^64 mod n
  for (;;) {
    const uint64_t r = next_u64();
    if (r >= threshold) return r % n;
  }
}

double Stream::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

double Stream::gamma(double shape) {
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
    const double u = 1.0 - uniform();
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x, v;
    do {
      x = normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = 1.0 - uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

void shuffle(std::vector<int64_t>& v, Stream& stream) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = stream.below(i);
    std::swap(v[i - 1], v[j]);
  }
}

std::vector<int64_t> sample_without_replacement(int64_t n, int64_t k, Stream& stream) {
  // Floyd's algorithm: O(k) memory even when n is large.
  std::vector<int64_t> sorted;
  sorted.reserve(static_cast<size_t>(k));
  for (int64_t j = n - k; j < n; ++j) {
    const int64_t t = static_cast<int64_t>(stream.below(static_cast<uint64_t>(j + 1)));
    const bool seen = std::binary_search(sorted.begin(), sorted.end(), t);
    const int64_t pick = seen ? j : t;
    sorted.insert(std::upper_bound(sorted.begin(), sorted.end(), pick), pick);
  }
  return sorted;
}

}  // namespace flb
