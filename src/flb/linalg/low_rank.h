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
// sigma_1). The stacked-QR path (FlexLoRA's, and FedSRD's base_*_pinv_delta) runs its two QRs of the (d, R)
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

// W = sum_i w[i] (B + dB[i]) (A + dA[i]): m low-rank products around one
// base B A (FedSRD's reconstructed client products), kept as the base and
// the updates. B is (d_out, r), A (r, d_in), dB[i] and dA[i] alike, one
// device, float32 or float64.
struct SharedBaseSum {
  torch::Tensor A, B;
  std::vector<torch::Tensor> dA, dB;
  std::vector<double> w;
};

// Throws flb::Error naming the malformed term.
void validate(const SharedBaseSum& s);

// The exact rank-k truncation W_k of W minus the base, projected on a
// factor's pseudo-inverse without forming a d_out x d_in matrix:
//   base_left_pinv_delta   pinv(B) (W_k - B A)   (r, d_in)
//   base_right_pinv_delta  (W_k - B A) pinv(A)   (d_out, r)
// with pinv's rcond (below) for B and A.
//
// How: Householder QRs of the stacks [B, dB_1 .. dB_m] = Qb Rb and
// [A^T, dA_1^T .. dA_m^T] = Qa Ra, K = (m + 1) r columns, in the factors'
// precision; then W = Qb (Rb M Ra^T) Qa^T and B A = Qb (Rb0 Ra0^T) Qa^T,
// with M the K x K block matrix of the weights and Rb0, Ra0 the base's
// first r columns. The core, its SVD, the truncation and the difference
// D = core_k - Rb0 Ra0^T are float64 and small (at most K x K); then
// pinv(B) Qb = pinv(Rb0) and Qa^T pinv(A) = pinv(Ra0)^T, so only one
// reflector product (ormqr) maps the result back. Cost
// O(K^2 (d_out + d_in) + K^3 + r K d).
//
// Why the stacks keep the base apart: Householder QR is backward stable
// column by column, so a float32 QR perturbs B, A and each update by
// float32 rounding of its own size, and B A cancels inside D instead of
// in a float32 difference W_k - B A, which would lose the digits in which
// W_k and B A agree (about eps32 ||B A|| / ||W_k - B A||). The result is
// then float32 accurate relative to itself, amplified only by the
// truncation's own conditioning 1 + sigma_1 / (sigma_k - sigma_{k+1})
// (low_rank_test and lora_algorithms_test print what they saw).
// Float32, or float64 for float64 factors.
// REQUIRES: 1 <= k <= min(d_out, d_in).
//
// With `report`, also what a reader needs to explain a bad step (FedSRD's
// /server_diagnostics), from the small float64 pieces at no extra QR:
struct TruncationReport {
  // ||W - W_k||_F / ||W||_F: sqrt of the discarded share of sum sigma_i^2
  // (the core's singular values are W's, Qb and Qa being orthonormal);
  // 0 for W = 0.
  double truncation_error = 0;
  // Extreme singular values of the factor inverted (B for the left
  // solve, A for the right): those of Rb0 (Ra0), as B = Qb Rb0.
  double inverted_sigma_min = 0, inverted_sigma_max = 0;
};
torch::Tensor base_left_pinv_delta(const SharedBaseSum& s, int64_t k, TruncationReport* report = nullptr);
torch::Tensor base_right_pinv_delta(const SharedBaseSum& s, int64_t k, TruncationReport* report = nullptr);

// A SharedBaseSum after each MPI rank folded its own terms (hierarchical
// aggregation, sim/hierarchical.h): with the products of the updates kept
// as low-rank pairs,
//
//   W = s B A + B a + b A + sum_j L_j R_j
//   s = sum_i w_i,  a = sum_i w_i dA_i (r, d_in),  b = sum_i w_i dB_i (d_out, r),
//   sum_j L_j R_j = sum_i w_i dB_i dA_i,  L_j (d_out, k_j), R_j (k_j, d_in)
//
// which is SharedBaseSum's W term for term. Every pair (L_j, R_j) may be
// empty (k_j = 0: a rank without uploads); a, b are defined.
struct FoldedBaseSum {
  torch::Tensor A, B;
  double s = 0;
  torch::Tensor a, b;
  std::vector<torch::Tensor> L, R;
};

// Throws flb::Error naming the malformed term.
void validate(const FoldedBaseSum& f);

// One rank's fold of its terms of `s` (every term of s: the rank's own):
// s, a, b as above; one pair (L, R) for the products, the stacks
// [w_1 dB_1 .. w_m dB_m] and [dA_1; ..; dA_m] themselves (k = m r) while
// m r <= min(d_out, d_in), else reduced through their QRs to
// k = min(d_out, d_in) columns (the smaller side's Q is sent as it is, the
// other side carries R_b R_a^T): the fold of any number of clients then
// stays at most (min(d) + 2 r)(d_out + d_in) values. Float32 (float64
// for float64 factors); exact up to the QR's backward error.
FoldedBaseSum fold(const SharedBaseSum& s);

// The folds of several ranks as one, each scaled by `scale` (1 / the total
// weight: the folds carry raw weights); the pairs concatenated in order.
// REQUIRES: every fold has the same A and B.
FoldedBaseSum merge(const std::vector<FoldedBaseSum>& folds, double scale);

// base_left_pinv_delta and base_right_pinv_delta of the folded W: the same
// method with the stacks [B, b, L_1 ..] and [A^T, a^T, R_1^T ..] and
// their block core (s at (0, 0), identities at (0, 1), (1, 0) and (j, j)),
// so B A still cancels in the float64 core.
torch::Tensor base_left_pinv_delta(const FoldedBaseSum& f, int64_t k, TruncationReport* report = nullptr);
torch::Tensor base_right_pinv_delta(const FoldedBaseSum& f, int64_t k, TruncationReport* report = nullptr);

// The folded W as a LowRankSum (FlexLoRA's truncation): B (s A + a),
// b A and every L_j R_j, weights 1.
LowRankSum as_low_rank_sum(const FoldedBaseSum& f);

// The Moore-Penrose pseudo-inverse of M (m, n) -> (n, m), on M's device,
// float64 for float64 M and float32 otherwise, via a float64 SVD (of M^T
// when M is wide): singular values at or below
// rcond * max(S), rcond = max(m, n) * eps(float32) (torch.linalg.pinv's
// default rtol for float32 input), are treated as 0. The zero matrix gives the
// zero matrix. Exact left inverse when M has full column rank:
// pinv(B) (B X) = X to float32 rounding times cond(B).
torch::Tensor pinv(const torch::Tensor& M);

// The same with rcond given: singular values at or below rcond * max(S) are
// treated as 0 (pinv(M) is pinv(M, max(m, n) * eps(float32))).
torch::Tensor pinv(const torch::Tensor& M, double rcond);

}  // namespace flb::linalg
