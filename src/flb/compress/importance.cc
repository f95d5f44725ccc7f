#include "flb/compress/importance.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "flb/core/error.h"

namespace flb::compress {

namespace {

std::string shape(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

// A host, contiguous copy (or view) of t in `dtype`.
torch::Tensor host(const torch::Tensor& t, torch::ScalarType dtype) {
  return t.to(torch::kCPU, dtype).contiguous();
}

void require_indexable(const torch::Tensor& t, const char* what) {
  require(t.numel() <= static_cast<int64_t>(std::numeric_limits<uint32_t>::max()),
          std::string(what) + ": " + std::to_string(t.numel()) + " elements; sparse parts index with uint32 (< 2^32)");
}

// A sparse host part of `numel` from its positions and values.
Part host_sparse_part(uint64_t numel, const std::vector<uint32_t>& indices, const std::vector<float>& values) {
  Part part;
  part.kind = PartKind::kSparse;
  part.numel = numel;
  part.indices = torch::empty({static_cast<int64_t>(indices.size())}, torch::kInt32);
  part.values = torch::empty({static_cast<int64_t>(values.size())}, torch::kFloat32);
  if (!indices.empty()) std::memcpy(part.indices.data_ptr<int32_t>(), indices.data(), indices.size() * sizeof(uint32_t));
  if (!values.empty()) std::memcpy(part.values.data_ptr<float>(), values.data(), values.size() * sizeof(float));
  return part;
}

}  // namespace

torch::Tensor importance_dB(const torch::Tensor& dB, const torch::Tensor& A_prev) {
  require(dB.dim() == 2 && A_prev.dim() == 2 && dB.size(1) == A_prev.size(0),
          "importance_dB: dB is " + shape(dB) + " and A_prev is " + shape(A_prev) + "; need (d_out, r) and (r, d_in)");
  const torch::Tensor row_norms = A_prev.to(torch::kFloat32).pow(2).sum(1).sqrt();  // (r): ||A_prev[v,:]||
  return dB.to(torch::kFloat32).abs() * row_norms.unsqueeze(0);
}

torch::Tensor importance_dA(const torch::Tensor& dA, const torch::Tensor& B_new) {
  require(dA.dim() == 2 && B_new.dim() == 2 && dA.size(0) == B_new.size(1),
          "importance_dA: dA is " + shape(dA) + " and B_new is " + shape(B_new) + "; need (r, d_in) and (d_out, r)");
  const torch::Tensor col_norms = B_new.to(torch::kFloat32).pow(2).sum(0).sqrt();  // (r): ||B_new[:,u]||
  return dA.to(torch::kFloat32).abs() * col_norms.unsqueeze(1);
}

double pearson_kurtosis(const torch::Tensor& scores) {
  require(scores.numel() >= 1, "pearson_kurtosis: no scores");
  const torch::Tensor x = host(scores, torch::kFloat64);
  const double* p = x.data_ptr<double>();
  const int64_t n = x.numel();
  // Two passes: the mean first, then central moments (no cancellation).
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += p[i];
  mean /= static_cast<double>(n);
  double m2 = 0, m4 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d2 = (p[i] - mean) * (p[i] - mean);
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= static_cast<double>(n);
  m4 /= static_cast<double>(n);
  if (!(m2 > 0)) return 1.0;
  return m4 / (m2 * m2);
}

double adaptive_drop_ratio(double kurtosis, const AdaptiveRatio& r) {
  return r.base + std::min(r.upper, r.coeff * std::log(std::max(kurtosis, 1.0)));
}

Part sparsify_by_score(const torch::Tensor& values, const torch::Tensor& scores, double p, bool l1_rescale) {
  require(values.sizes() == scores.sizes(),
          "sparsify_by_score: values are " + shape(values) + " but scores are " + shape(scores));
  require(p >= 0 && p <= 1, "sparsify_by_score: drop ratio " + std::to_string(p) + " must be in [0, 1]");
  require_indexable(values, "sparsify_by_score");
  const torch::Tensor v = host(values, torch::kFloat32), s = host(scores, torch::kFloat64);
  const float* vp = v.data_ptr<float>();
  const double* sp = s.data_ptr<double>();
  const int64_t n = v.numel();
  for (int64_t i = 0; i < n; ++i)  // the message is built only on failure: this loop runs per element
    if (std::isnan(sp[i])) throw Error("sparsify_by_score: score " + std::to_string(i) + " is NaN");

  const auto drop = static_cast<int64_t>(std::floor(p * static_cast<double>(n) + 0.5));
  const int64_t keep = n - drop;
  // The `keep` first elements in the strict total order "higher score
  // first, then lower index": every element above the keep-th largest
  // score t, and the lowest-indexed of those equal to t. t comes from
  // nth_element on a copy of the scores (contiguous, no indirection), and
  // one pass in index order picks them, so `order` comes out ascending.
  std::vector<uint32_t> order;
  order.reserve(static_cast<size_t>(keep));
  if (keep > 0) {
    std::vector<double> sorted(sp, sp + n);
    std::nth_element(sorted.begin(), sorted.begin() + (keep - 1), sorted.end(), std::greater<double>());
    const double t = sorted[static_cast<size_t>(keep - 1)];
    int64_t above = 0;
    for (int64_t i = 0; i < n; ++i) above += sp[i] > t;
    int64_t ties = keep - above;  // elements equal to t to keep, lowest index first
    for (int64_t i = 0; i < n; ++i)
      if (sp[i] > t || (sp[i] == t && ties-- > 0)) order.push_back(static_cast<uint32_t>(i));
  }

  double l1_all = 0, l1_kept = 0;
  for (int64_t i = 0; i < n; ++i) l1_all += std::fabs(static_cast<double>(vp[i]));
  for (uint32_t i : order) l1_kept += std::fabs(static_cast<double>(vp[i]));
  const double scale = (l1_rescale && l1_kept > 0) ? l1_all / l1_kept : 1.0;

  std::vector<float> kept;
  kept.reserve(order.size());
  for (uint32_t i : order) kept.push_back(static_cast<float>(scale * static_cast<double>(vp[i])));
  return host_sparse_part(static_cast<uint64_t>(n), order, kept);
}

Part random_drop(const torch::Tensor& values, double q, Stream& stream) {
  require(q >= 0 && q < 1, "random_drop: drop probability " + std::to_string(q) + " must be in [0, 1)");
  require_indexable(values, "random_drop");
  const torch::Tensor v = host(values, torch::kFloat32);
  const float* vp = v.data_ptr<float>();
  const int64_t n = v.numel();
  const double scale = 1.0 / (1.0 - q);
  std::vector<uint32_t> indices;
  std::vector<float> kept;
  for (int64_t i = 0; i < n; ++i) {
    if (stream.uniform() < q) continue;
    indices.push_back(static_cast<uint32_t>(i));
    kept.push_back(static_cast<float>(scale * static_cast<double>(vp[i])));
  }
  return host_sparse_part(static_cast<uint64_t>(n), indices, kept);
}

}  // namespace flb::compress
