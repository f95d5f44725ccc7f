// FedSRD's client-side, importance-aware sparsifier and the random drop of
// Fed-DARE and FedSRD's download (ALGORITHMS.md, FedSRD).
//
// An element's importance is the Frobenius norm of its rank-1 contribution
// to the client's full-rank update dW = dB A_prev + B_new dA:
//
//   I(dB[u,v]) = |dB[u,v]| * ||A_prev[v,:]||_2     dB, A_prev: (d_out, r), (r, d_in)
//   I(dA[u,v]) = |dA[u,v]| * ||B_new[:,u]||_2      dA, B_new:  (r, d_in), (d_out, r)
//
// Scores are float32 on the inputs' device; the statistics and the
// selection below run on the host in float64 / exact integer arithmetic.
// Shape mismatches and out-of-range ratios throw flb::Error.
#pragma once

#include <torch/types.h>

#include "flb/compress/payload.h"
#include "flb/core/rng.h"

namespace flb::compress {

torch::Tensor importance_dB(const torch::Tensor& dB, const torch::Tensor& A_prev);  // (d_out, r)
torch::Tensor importance_dA(const torch::Tensor& dA, const torch::Tensor& B_new);   // (r, d_in)

// Pearson (not excess) kurtosis E[(x - mu)^4] / sigma^4 with population
// moments, in float64. A normal sample gives ~3. Constant (or one-element)
// scores have no kurtosis; they give 1, the smallest any distribution has,
// so adaptive_drop_ratio falls back to `base`. REQUIRES: numel >= 1.
double pearson_kurtosis(const torch::Tensor& scores);

// p = base + min(upper, coeff * ln(max(k, 1))): heavier-tailed scores (a
// few elements carry the update) are pruned harder. The authors' defaults.
struct AdaptiveRatio {
  double base = 0.85;
  double coeff = 0.1;
  double upper = 0.11;
};
double adaptive_drop_ratio(double kurtosis, const AdaptiveRatio& r = {});

// Drops the round(p * n) lowest-scoring of values' n elements and keeps the
// other n - round(p * n) (rounding half up), so the achieved sparsity is
// exact. Order: higher score first, and among equal scores the lower flat
// index first (the kept set is then unique and the same on every machine).
// With l1_rescale, survivors are scaled by sum|values| / sum|kept| (in
// float64; no scaling when the kept values sum to 0) so the matrix keeps
// its L1 norm, as the authors' code does.
// Returns a sparse host Part (numel, ascending int32 indices, float32 values);
// the caller sets `tensor` and `tag`.
// REQUIRES: scores.sizes() == values.sizes(), 0 <= p <= 1, no NaN score,
// numel < 2^32.
Part sparsify_by_score(const torch::Tensor& values, const torch::Tensor& scores, double p, bool l1_rescale = true);

// Drops each element independently with probability q (one stream.uniform()
// per element, in flat index order: dropped when < q) and scales survivors
// by 1 / (1 - q), so the expectation is `values`. Sparse Part as above.
// REQUIRES: 0 <= q < 1, numel < 2^32.
Part random_drop(const torch::Tensor& values, double q, Stream& stream);

}  // namespace flb::compress
