// The server math of FedSRD, FedSRD-e and FlexLoRA on a weighted sum of
// low-rank products, exact and without forming d_out x d_in matrices where
// a cheaper path exists (ALGORITHMS.md, FedSRD, "Cost").
//
//   W = sum_i w_i B_i A_i = [B_1 .. B_m] diag(w_i I_{r_i}) [A_1; ..; A_m]
//
// has rank <= R = sum_i r_i. Everything here takes and returns LibTorch
// tensors on the factors' device (CPU or GPU); results are float32 unless
// said otherwise. The SVDs, pinv and the randomized and dense paths compute
// in float64 internally: float32 SVD errors grow with the dimension and
// with 1 / (gap between sigma_k and sigma_{k+1}); in float64 they stay
// below the float32 rounding of the outputs (low_rank_test: <= 6e-8 of
// sigma_1). The stacked-QR path, FedSRD's, runs its two QRs of the (d, R)
// stacks (its whole cost) in the factors' precision, float32 for float32
// factors, and only the R x R core and its SVD in float64: its error is
// then that of a float32 backward-stable factorisation, within about
// 1e-6 * (1 + sigma_1 / (sigma_k - sigma_{k+1})) of sigma_1 (low_rank_test
// prints what it saw); float64 factors get the float64 path throughout.
//
// Errors (mismatched shapes, devices, k out of range) throw flb::Error.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace flb::linalg {

// W = sum_i w[i] * B[i] A[i], never formed unless asked (dense()).
// B[i] is (d_out, r_i), A[i] is (r_i, d_in), r_i >= 1, m = B.size() >= 1,
// all on one device, any floating dtype.
struct LowRankSum {
  std::vector<torch::Tensor> B;
  std::vector<torch::Tensor> A;
  std::vector<double> w;

  int64_t d_out() const;
  int64_t d_in() const;
  int64_t rank_bound() const;  // R = sum_i r_i
};

// Throws flb::Error saying which term is malformed. Every function below
// calls it; callers may call it early to fail before any work.
void validate(const LowRankSum& s);

// W as a dense (d_out, d_in) tensor of `dtype`: the plain path, O(R d_out d_in).
torch::Tensor dense(const LowRankSum& s, torch::ScalarType dtype = torch::kFloat32);

// P W and W Q through the factors: O(p R (d_out + d_in)) instead of the
// O(R d_out d_in) it takes to form W. Computed and returned in P's (Q's)
// dtype; P is (p, d_out) -> (p, d_in), Q is (d_in, q) -> (d_out, q).
torch::Tensor left_multiply(const torch::Tensor& P, const LowRankSum& s);
torch::Tensor right_multiply(const LowRankSum& s, const torch::Tensor& Q);

// A rank-k truncated SVD, W_k = U diag(S) V^T: U is (d_out, k), S is (k)
// descending and >= 0, V is (d_in, k); U and V have orthonormal columns
// (float32 on W's device). When k exceeds W's rank the extra S are 0 and
// their U, V columns complete the bases (deterministically).
struct Svd {
  torch::Tensor U;
  torch::Tensor S;
  torch::Tensor V;
};

enum class SvdPath {
  kAuto,        // the cheapest exact path, else randomized when k << min(d); see below
  kDense,       // form W, full SVD: O(R d_out d_in + d_out d_in min(d))
  kStackedQr,   // QR of [B_1..B_m] and [A_1^T..A_m^T], SVD of the (at most) R x R core: exact,
                // O(R^2 (d_out + d_in) + R^3); pays off when R < min(d_out, d_in)
  kRandomized,  // Halko, Martinsson & Tropp (2011), Alg. 4.4: range finder with
                // oversampling p and q power iterations, only W X and W^T Y
                // through the factors: O((q + 1) R (d_out + d_in) (k + p)).
                // Exact (to rounding) when rank(W) <= k + p or k + p >= min(d); otherwise
                // ||W - W_k|| is close to sigma_{k+1} (Halko Thm 10.6, Cor 10.10).
};

const char* to_string(SvdPath path);

struct SvdOptions {
  SvdPath path = SvdPath::kAuto;
  uint64_t seed = 0;         // the randomized sketch: flb::Stream(seed, kSketch)
  int64_t oversample = 10;   // p
  int64_t power_iters = 2;   // q
};

// kAuto takes kStackedQr when R < min(d_out, d_in) and its flop count is
// below the dense path's; otherwise kRandomized when k + p < min(d)/2 and
// its flop count is below the dense path's; otherwise kDense. So kAuto is
// exact unless R >= min(d) (W of full rank) and k is small: then it returns
// the randomized approximation; pass kDense or kStackedQr to insist on
// exact. `used`, when given, receives the path taken.
// REQUIRES: 1 <= k <= min(d_out, d_in).
Svd truncated_svd(const LowRankSum& s, int64_t k, const SvdOptions& options, SvdPath* used = nullptr);
Svd truncated_svd(const LowRankSum& s, int64_t k, SvdPath path = SvdPath::kAuto, uint64_t seed = 0,
                  SvdPath* used = nullptr);

// Dense input: W is (d_out, d_in); float64 LAPACK/cuSOLVER SVD, truncated.
Svd truncated_svd(const torch::Tensor& W, int64_t k);

// U diag(S) V^T as a (d_out, d_in) float32 tensor.
torch::Tensor reconstruct(const Svd& svd);

// P W_k and W_k Q for W_k the exact rank-k truncation of W, computed and
// returned in float64 without forming W, U or V: the stacked factors'
// float64 Householder QRs (geqrf), the SVD of the R x R core, and the
// reflectors applied to P^T or Q (ormqr): O(R^2 (d_out + d_in) + R^3 +
// (p or q) R (d_out + d_in)). When R >= min(d_out, d_in) the dense float64
// SVD instead. FedSRD's server projects W_k - B A, where W_k and B A agree
// to a few digits once training has moved B A little: in float64 to the end
// its error stays at float32 rounding of the result; through float32 stacks
// it grows as eps32 ||B A|| / ||W_k - B A|| (linalg_fedsrd_test measures both).
// REQUIRES: 1 <= k <= min(d_out, d_in); P (p, d_out), Q (d_in, q).
torch::Tensor truncated_left_multiply(const torch::Tensor& P, const LowRankSum& s, int64_t k);
torch::Tensor truncated_right_multiply(const LowRankSum& s, int64_t k, const torch::Tensor& Q);

// The Moore-Penrose pseudo-inverse of M (m, n) -> (n, m), on M's device,
// float64 for float64 M and float32 otherwise, via a float64 SVD (of M^T
// when M is wide): singular values at or below
// rcond * max(S), rcond = max(m, n) * eps(float32) (torch.linalg.pinv's
// default rtol for float32 input), are treated as 0. The zero matrix gives the
// zero matrix. Exact left inverse when M has full column rank:
// pinv(B) (B X) = X to float32 rounding times cond(B).
torch::Tensor pinv(const torch::Tensor& M);

}  // namespace flb::linalg
