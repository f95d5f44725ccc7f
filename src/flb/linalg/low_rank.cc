#include "flb/linalg/low_rank.h"

#include <algorithm>
#include <cfloat>
#include <functional>
#include <string>
#include <tuple>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::linalg {

int64_t LowRankSum::d_out() const { return B.empty() ? 0 : B.front().size(0); }
int64_t LowRankSum::d_in() const { return A.empty() ? 0 : A.front().size(1); }
int64_t LowRankSum::rank_bound() const {
  int64_t r = 0;
  for (const auto& b : B) r += b.size(1);
  return r;
}

void validate(const LowRankSum& s) {
  require(!s.B.empty(), "low-rank sum: no terms");
  require(s.A.size() == s.B.size() && s.w.size() == s.B.size(),
          "low-rank sum: " + std::to_string(s.B.size()) + " B, " + std::to_string(s.A.size()) + " A and " +
              std::to_string(s.w.size()) + " weights; need one of each per term");
  const auto device = s.B.front().device();
  for (size_t i = 0; i < s.B.size(); ++i) {
    const auto& B = s.B[i];
    const auto& A = s.A[i];
    const std::string term = "low-rank sum, term " + std::to_string(i) + ": ";
    require(B.defined() && A.defined() && B.dim() == 2 && A.dim() == 2, term + "B and A must be 2-D tensors");
    require(B.is_floating_point() && A.is_floating_point(), term + "B and A must be floating point");
    require(B.device() == device && A.device() == device, term + "all factors must be on one device");
    require(B.size(1) >= 1 && B.size(1) == A.size(0),
            term + "B is (" + std::to_string(B.size(0)) + ", " + std::to_string(B.size(1)) + ") and A is (" +
                std::to_string(A.size(0)) + ", " + std::to_string(A.size(1)) + "); need B (d_out, r), A (r, d_in), r >= 1");
    require(B.size(0) == s.d_out() && A.size(1) == s.d_in(),
            term + "shape (" + std::to_string(B.size(0)) + ", " + std::to_string(A.size(1)) + ") differs from term 0's (" +
                std::to_string(s.d_out()) + ", " + std::to_string(s.d_in()) + ")");
  }
}

namespace {

// The sum as three stacked factors, W = Bs diag(w) At^T:
// Bs is (d_out, R), At is (d_in, R), w is (R), each term's weight repeated r_i times.
struct Stacked {
  torch::Tensor Bs, At, w;
};

// float64 when any factor is float64, else float32 (bf16 and fp16 factors
// are widened: LAPACK and cuSOLVER take neither).
torch::ScalarType factor_dtype(const LowRankSum& s) {
  for (size_t i = 0; i < s.B.size(); ++i)
    if (s.B[i].scalar_type() == torch::kFloat64 || s.A[i].scalar_type() == torch::kFloat64) return torch::kFloat64;
  return torch::kFloat32;
}

Stacked stack(const LowRankSum& s, torch::ScalarType dtype) {
  validate(s);
  std::vector<torch::Tensor> Bs, At, w;
  for (size_t i = 0; i < s.B.size(); ++i) {
    Bs.push_back(s.B[i].to(dtype));
    At.push_back(s.A[i].to(dtype).t());
    w.push_back(torch::full({s.B[i].size(1)}, s.w[i], Bs.back().options()));
  }
  return {torch::cat(Bs, 1), torch::cat(At, 1), torch::cat(w)};
}

// W X for X (d_in, l) and W^T Y for Y (d_out, l), through the factors.
torch::Tensor apply(const Stacked& f, const torch::Tensor& X) {
  return f.Bs.matmul(f.w.unsqueeze(1) * f.At.t().matmul(X));
}
torch::Tensor apply_t(const Stacked& f, const torch::Tensor& Y) {
  return f.At.matmul(f.w.unsqueeze(1) * f.Bs.t().matmul(Y));
}

// An orthonormal basis of X's columns (Householder QR: Q is orthonormal
// even when X is rank-deficient).
torch::Tensor orth(const torch::Tensor& X) { return std::get<0>(torch::linalg_qr(X)); }

// (rows, cols) standard normals in float64 from flb::Stream, so the sketch
// is the same on every device and LibTorch version; `which` keys the use.
torch::Tensor gaussian(int64_t rows, int64_t cols, uint64_t seed, uint64_t which, torch::Device device) {
  Stream stream(seed, StreamPurpose::kSketch, which);
  torch::Tensor t = torch::empty({rows, cols}, torch::kFloat64);
  double* p = t.data_ptr<double>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = stream.normal();
  return t.to(device);
}

// Q (d, c) orthonormal -> (d, k): Q's first k columns, or Q followed by
// k - c orthonormal columns orthogonal to it (projected Gaussians).
torch::Tensor complete_basis(const torch::Tensor& Q, int64_t k, uint64_t which) {
  const int64_t c = Q.size(1);
  if (c >= k) return Q.narrow(1, 0, k);
  // In float64 whatever Q's dtype: in float32 the new columns would be
  // orthogonal to Q only to ~1e-5 (seen), not to float32 rounding.
  const torch::Tensor Q64 = Q.to(torch::kFloat64);
  torch::Tensor G = gaussian(Q.size(0), k - c, 0, which, Q.device());
  for (int pass = 0; pass < 2; ++pass) G = G - Q64.matmul(Q64.t().matmul(G));  // twice is enough (Kahan)
  return torch::cat({Q64, orth(G)}, 1);
}

// Keeps the leading k triplets of a float64 SVD (U (d_out, c), S (c),
// V (d_in, c)), pads to k when c < k, and returns float32.
Svd finish(const torch::Tensor& U, const torch::Tensor& S, const torch::Tensor& V, int64_t k) {
  const int64_t c = std::min<int64_t>(k, S.size(0));
  Svd out;
  out.U = complete_basis(U.narrow(1, 0, c), k, 1).to(torch::kFloat32);
  out.V = complete_basis(V.narrow(1, 0, c), k, 2).to(torch::kFloat32);
  out.S = torch::cat({S.narrow(0, 0, c), torch::zeros({k - c}, S.options())}).to(torch::kFloat32);
  return out;
}

Svd svd_of_dense(const torch::Tensor& W64, int64_t k) {
  torch::Tensor U, S, Vh;
  std::tie(U, S, Vh) = torch::linalg_svd(W64, /*full_matrices=*/false);
  return finish(U, S, Vh.t(), k);
}

// W = Qb Rb diag(w) Ra^T Qa^T with [B_1..B_m] = Qb Rb and [A_1^T..A_m^T] = Qa Ra,
// so W's SVD is Qb (SVD of the small core Rb diag(w) Ra^T) Qa^T.
//
// The two QRs of the (d, R) stacks are the step's cost (O(R^2 d) each), so
// they run in the factors' own precision (float32 for FedSRD's float32
// factors, where they are about twice as fast as float64 and their error is
// the float32 rounding the factors already carry); the R x R core, its SVD
// and the rotations Uc, Vc stay float64 (cheap, and where the truncation is
// decided). Only the k leading columns are mapped back through Qb and Qa.
Svd stacked_qr_svd(const LowRankSum& s, int64_t k) {
  const torch::ScalarType qr_dtype = factor_dtype(s);
  const Stacked f = stack(s, qr_dtype);
  torch::Tensor Qb, Rb, Qa, Ra;
  std::tie(Qb, Rb) = torch::linalg_qr(f.Bs);  // Qb (d_out, kb), Rb (kb, R), kb = min(d_out, R)
  std::tie(Qa, Ra) = torch::linalg_qr(f.At);  // Qa (d_in, ka),  Ra (ka, R)
  const torch::Tensor w = f.w.to(torch::kFloat64);
  const torch::Tensor core = (Rb.to(torch::kFloat64) * w).matmul(Ra.to(torch::kFloat64).t());  // (kb, ka)
  torch::Tensor Uc, S, Vch;
  std::tie(Uc, S, Vch) = torch::linalg_svd(core, /*full_matrices=*/false);
  const int64_t c = std::min<int64_t>(k, S.size(0));
  const torch::Tensor U = Qb.matmul(Uc.narrow(1, 0, c).to(qr_dtype));
  const torch::Tensor V = Qa.matmul(Vch.narrow(0, 0, c).t().to(qr_dtype));
  return finish(U, S, V, k);
}

// Halko, Martinsson & Tropp (2011): Algorithm 4.4 (randomized subspace
// iteration, re-orthonormalising after every product), then Algorithm 5.1
// (SVD of the small Q^T W).
Svd randomized_svd(const LowRankSum& s, int64_t k, const SvdOptions& o) {
  const Stacked f = stack(s, torch::kFloat64);
  const int64_t l = std::min(k + o.oversample, std::min(s.d_out(), s.d_in()));
  const torch::Tensor Omega = gaussian(s.d_in(), l, o.seed, 0, f.Bs.device());  // (d_in, l)
  torch::Tensor Q = orth(apply(f, Omega));                                       // (d_out, l)
  for (int64_t i = 0; i < o.power_iters; ++i) {
    const torch::Tensor Z = orth(apply_t(f, Q));  // (d_in, l)
    Q = orth(apply(f, Z));
  }
  const torch::Tensor small = apply_t(f, Q).t();  // Q^T W, (l, d_in)
  torch::Tensor Ub, S, Vh;
  std::tie(Ub, S, Vh) = torch::linalg_svd(small, /*full_matrices=*/false);
  return finish(Q.matmul(Ub), S, Vh.t(), k);
}

// Rough flop counts (LAPACK's leading terms) for kAuto.
double svd_flops(double m, double n) {  // thin SVD with vectors of an m x n matrix
  const double a = std::max(m, n), b = std::min(m, n);
  return 4 * a * b * b + 8 * b * b * b;
}

SvdPath choose(const LowRankSum& s, int64_t k, const SvdOptions& o) {
  const double dout = static_cast<double>(s.d_out()), din = static_cast<double>(s.d_in());
  const double R = static_cast<double>(s.rank_bound()), kk = static_cast<double>(k);
  const double mn = std::min(dout, din);
  const double dense = 2 * dout * din * R + svd_flops(dout, din);
  const double stacked = 4 * (dout + din) * R * R + 2 * R * R * R + svd_flops(R, R) + 2 * (dout + din) * R * kk;
  const double l = std::min(kk + static_cast<double>(o.oversample), mn), q = static_cast<double>(o.power_iters);
  const double randomized = (2 * q + 2) * 2 * R * (dout + din) * l + (2 * q + 1) * 4 * std::max(dout, din) * l * l +
                            svd_flops(l, din) + 2 * dout * l * kk;
  if (R < mn && stacked <= dense) return SvdPath::kStackedQr;
  if (2 * l < mn && randomized < dense) return SvdPath::kRandomized;
  return SvdPath::kDense;
}

}  // namespace

torch::Tensor dense(const LowRankSum& s, torch::ScalarType dtype) {
  const Stacked f = stack(s, dtype);
  return (f.Bs * f.w).matmul(f.At.t());
}

torch::Tensor left_multiply(const torch::Tensor& P, const LowRankSum& s) {
  const Stacked f = stack(s, P.scalar_type());
  require(P.dim() == 2 && P.size(1) == s.d_out(), "left_multiply: P must be (p, d_out = " + std::to_string(s.d_out()) + ")");
  return (P.matmul(f.Bs) * f.w).matmul(f.At.t());
}

torch::Tensor right_multiply(const LowRankSum& s, const torch::Tensor& Q) {
  const Stacked f = stack(s, Q.scalar_type());
  require(Q.dim() == 2 && Q.size(0) == s.d_in(), "right_multiply: Q must be (d_in = " + std::to_string(s.d_in()) + ", q)");
  return apply(f, Q);
}

const char* to_string(SvdPath path) {
  switch (path) {
    case SvdPath::kAuto: return "auto";
    case SvdPath::kDense: return "dense";
    case SvdPath::kStackedQr: return "stacked-qr";
    case SvdPath::kRandomized: return "randomized";
  }
  return "?";
}

Svd truncated_svd(const LowRankSum& s, int64_t k, const SvdOptions& options, SvdPath* used) {
  validate(s);
  const int64_t mn = std::min(s.d_out(), s.d_in());
  require(k >= 1 && k <= mn, "truncated_svd: rank k = " + std::to_string(k) + " must be in [1, " + std::to_string(mn) + "]");
  require(options.oversample >= 0 && options.power_iters >= 0, "truncated_svd: oversample and power_iters must be >= 0");
  const SvdPath path = options.path == SvdPath::kAuto ? choose(s, k, options) : options.path;
  if (used) *used = path;
  switch (path) {
    case SvdPath::kStackedQr: return stacked_qr_svd(s, k);
    case SvdPath::kRandomized: return randomized_svd(s, k, options);
    default: return svd_of_dense(dense(s, torch::kFloat64), k);
  }
}

Svd truncated_svd(const LowRankSum& s, int64_t k, SvdPath path, uint64_t seed, SvdPath* used) {
  SvdOptions o;
  o.path = path;
  o.seed = seed;
  return truncated_svd(s, k, o, used);
}

Svd truncated_svd(const torch::Tensor& W, int64_t k) {
  require(W.dim() == 2 && W.is_floating_point(), "truncated_svd: W must be a 2-D floating-point tensor");
  const int64_t mn = std::min(W.size(0), W.size(1));
  require(k >= 1 && k <= mn, "truncated_svd: rank k = " + std::to_string(k) + " must be in [1, " + std::to_string(mn) + "]");
  return svd_of_dense(W.to(torch::kFloat64), k);
}

torch::Tensor reconstruct(const Svd& svd) { return (svd.U * svd.S).matmul(svd.V.t()); }

void validate(const SharedBaseSum& s) {
  require(s.A.defined() && s.B.defined() && s.A.dim() == 2 && s.B.dim() == 2 && s.B.size(1) == s.A.size(0) &&
              s.A.size(0) >= 1,
          "shared-base sum: need B (d_out, r) and A (r, d_in) with r >= 1");
  require(s.A.is_floating_point() && s.B.is_floating_point() && s.A.device() == s.B.device(),
          "shared-base sum: A and B must be floating point on one device");
  require(!s.w.empty() && s.dA.size() == s.w.size() && s.dB.size() == s.w.size(),
          "shared-base sum: " + std::to_string(s.dB.size()) + " dB, " + std::to_string(s.dA.size()) + " dA and " +
              std::to_string(s.w.size()) + " weights; need at least one of each, one per term");
  for (size_t i = 0; i < s.w.size(); ++i) {
    const std::string term = "shared-base sum, term " + std::to_string(i) + ": ";
    require(s.dA[i].defined() && s.dB[i].defined() && s.dA[i].sizes() == s.A.sizes() && s.dB[i].sizes() == s.B.sizes(),
            term + "dA and dB must have A's and B's shapes");
    require(s.dA[i].device() == s.A.device() && s.dB[i].device() == s.A.device(), term + "all factors must be on one device");
  }
}

namespace {

// The truncated difference W_k - B A as Qb D Qa^T (low_rank.h,
// base_left_pinv_delta): the stacks' reflectors (geqrf: Q never formed)
// and the float64 pieces of the core.
struct TruncatedDelta {
  torch::Tensor qb, tau_b;  // geqrf of [B, dB_1 .. dB_m] (d_out, K)
  torch::Tensor qa, tau_a;  // geqrf of [A^T, dA_1^T .. dA_m^T] (d_in, K)
  torch::Tensor Rb0, Ra0;   // the base's columns of Rb and Ra, float64 (kb, r), (ka, r)
  torch::Tensor D;          // core_k - Rb0 Ra0^T, float64 (kb, ka)
  torch::Tensor S;          // the core's (W's) singular values, descending, float64
  int64_t kept = 0;         // how many of them W_k keeps
};

torch::ScalarType factor_dtype(const SharedBaseSum& s) {
  bool f64 = s.A.scalar_type() == torch::kFloat64 || s.B.scalar_type() == torch::kFloat64;
  for (size_t i = 0; i < s.w.size(); ++i)
    f64 = f64 || s.dA[i].scalar_type() == torch::kFloat64 || s.dB[i].scalar_type() == torch::kFloat64;
  return f64 ? torch::kFloat64 : torch::kFloat32;
}

// Rb M for the block weights of W = sum_i w_i (B + dB_i)(A + dA_i) =
// [B, dB_1..] M [A^T, dA_1^T..]^T: M's base block s = sum_i w_i, its
// blocks (0, i) and (i, 0) and (i, i) w_i. Column block 0 of Rb M is
// s Rb0 + sum_i w_i Rb_i, block i is w_i (Rb0 + Rb_i).
torch::Tensor times_weights(const torch::Tensor& Rb, const std::vector<double>& w, int64_t r) {
  const torch::Tensor Rb0 = Rb.narrow(1, 0, r);
  double total = 0;
  for (double wi : w) total += wi;
  std::vector<torch::Tensor> blocks{Rb0 * total};
  for (size_t i = 0; i < w.size(); ++i) {
    const torch::Tensor Rbi = Rb.narrow(1, static_cast<int64_t>(i + 1) * r, r);
    blocks[0] = blocks[0] + w[i] * Rbi;
    blocks.push_back(w[i] * (Rb0 + Rbi));
  }
  return torch::cat(blocks, 1);
}

// The upper trapezoid of geqrf's packed output, (min(d, K), K), float64.
torch::Tensor r_factor(const torch::Tensor& packed) {
  return packed.narrow(0, 0, std::min(packed.size(0), packed.size(1))).triu().to(torch::kFloat64);
}

// The truncation of W = [stack_b] M [stack_a]^T given Rb M (times_core):
// the stacks' QRs, the core, its SVD and D. The base (B, A^T) is the
// first r columns of each stack.
TruncatedDelta truncated_delta(const std::vector<torch::Tensor>& cols_b, const std::vector<torch::Tensor>& cols_a,
                               int64_t r, int64_t k,
                               const std::function<torch::Tensor(const torch::Tensor&)>& times_core) {
  TruncatedDelta t;
  std::tie(t.qb, t.tau_b) = torch::geqrf(torch::cat(cols_b, 1));
  std::tie(t.qa, t.tau_a) = torch::geqrf(torch::cat(cols_a, 1));
  const torch::Tensor Rb = r_factor(t.qb), Ra = r_factor(t.qa);
  t.Rb0 = Rb.narrow(1, 0, r);
  t.Ra0 = Ra.narrow(1, 0, r);
  torch::Tensor Uc, S, Vch;
  std::tie(Uc, S, Vch) = torch::linalg_svd(times_core(Rb).matmul(Ra.t()), /*full_matrices=*/false);
  const int64_t kk = std::min<int64_t>(k, S.size(0));  // k >= rank: W_k = W
  const torch::Tensor core_k = (Uc.narrow(1, 0, kk) * S.narrow(0, 0, kk)).matmul(Vch.narrow(0, 0, kk));
  t.D = core_k - t.Rb0.matmul(t.Ra0.t());
  t.S = S;
  t.kept = kk;
  return t;
}

TruncatedDelta truncated_delta(const SharedBaseSum& s, int64_t k) {
  const torch::ScalarType dtype = factor_dtype(s);
  const int64_t r = s.A.size(0);
  std::vector<torch::Tensor> cols_b{s.B.to(dtype)}, cols_a{s.A.to(dtype).t()};
  for (size_t i = 0; i < s.w.size(); ++i) {
    cols_b.push_back(s.dB[i].to(dtype));
    cols_a.push_back(s.dA[i].to(dtype).t());
  }
  return truncated_delta(cols_b, cols_a, r, k, [&](const torch::Tensor& Rb) { return times_weights(Rb, s.w, r); });
}

// The folded sum's stacks [B, b, L_j ..] and [A^T, a^T, R_j^T ..] (empty
// pairs left out) and core: column block 0 of Rb M is s Rb0 + Rb_b (the
// terms s B A and b A), block 1 is Rb0 (B a), block j is Rb_j (L_j R_j).
TruncatedDelta truncated_delta(const FoldedBaseSum& f, int64_t k) {
  const torch::ScalarType dtype = f.A.scalar_type() == torch::kFloat64 || f.a.scalar_type() == torch::kFloat64
                                      ? torch::kFloat64 : torch::kFloat32;
  const int64_t r = f.A.size(0);
  std::vector<torch::Tensor> cols_b{f.B.to(dtype), f.b.to(dtype)}, cols_a{f.A.to(dtype).t(), f.a.to(dtype).t()};
  for (size_t j = 0; j < f.L.size(); ++j) {
    if (f.L[j].size(1) == 0) continue;
    cols_b.push_back(f.L[j].to(dtype));
    cols_a.push_back(f.R[j].to(dtype).t());
  }
  return truncated_delta(cols_b, cols_a, r, k, [&](const torch::Tensor& Rb) {
    const torch::Tensor Rb0 = Rb.narrow(1, 0, r);
    return torch::cat({Rb0 * f.s + Rb.narrow(1, r, r), Rb0, Rb.narrow(1, 2 * r, Rb.size(1) - 2 * r)}, 1);
  });
}

// The report's numbers (host syncs: only when a report is asked for).
void fill_report(const TruncatedDelta& t, const torch::Tensor& inverted_r, TruncationReport* report) {
  if (!report) return;
  const double total = t.S.square().sum().item<double>();
  const double discarded = t.S.narrow(0, t.kept, t.S.size(0) - t.kept).square().sum().item<double>();
  report->truncation_error = total > 0 ? std::sqrt(discarded / total) : 0.0;
  const torch::Tensor sigma = torch::linalg_svdvals(inverted_r);  // descending
  report->inverted_sigma_max = sigma[0].item<double>();
  report->inverted_sigma_min = sigma[-1].item<double>();
}

// Q X for X (c, n), c <= K, Q the thin (d, min(d, K)) factor of geqrf's (q, tau).
torch::Tensor apply_q(const torch::Tensor& q, const torch::Tensor& tau, const torch::Tensor& X) {
  torch::Tensor padded = torch::zeros({q.size(0), X.size(1)}, q.options());
  padded.narrow(0, 0, X.size(0)).copy_(X);
  return torch::ormqr(q, tau, padded, /*left=*/true, /*transpose=*/false);
}

double pinv_rcond(const torch::Tensor& M) { return static_cast<double>(std::max(M.size(0), M.size(1))) * FLT_EPSILON; }

void check_rank(int64_t k, int64_t d_out, int64_t d_in, const char* what) {
  const int64_t mn = std::min(d_out, d_in);
  require(k >= 1 && k <= mn, std::string(what) + ": rank k = " + std::to_string(k) + " must be in [1, " + std::to_string(mn) + "]");
}

// pinv(B) Qb D Qa^T = pinv(Rb0) D Qa^T = (Qa (pinv(Rb0) D)^T)^T
torch::Tensor left_pinv_delta(const TruncatedDelta& t, const torch::Tensor& B, TruncationReport* report) {
  fill_report(t, t.Rb0, report);
  const torch::Tensor X = pinv(t.Rb0, pinv_rcond(B)).matmul(t.D);  // (r, ka)
  return apply_q(t.qa, t.tau_a, X.t().to(t.qa.scalar_type())).t().contiguous();
}

// Qb D Qa^T pinv(A) = Qb D pinv(Ra0)^T, since A^T = Qa Ra0
torch::Tensor right_pinv_delta(const TruncatedDelta& t, const torch::Tensor& A, TruncationReport* report) {
  fill_report(t, t.Ra0, report);
  const torch::Tensor Y = t.D.matmul(pinv(t.Ra0, pinv_rcond(A)).t());  // (kb, r)
  return apply_q(t.qb, t.tau_b, Y.to(t.qb.scalar_type()));
}

// The checked solves of either sum (SharedBaseSum, FoldedBaseSum).
template <class Sum>
torch::Tensor checked_left(const Sum& s, int64_t k, TruncationReport* report) {
  validate(s);
  check_rank(k, s.B.size(0), s.A.size(1), "base_left_pinv_delta");
  return left_pinv_delta(truncated_delta(s, k), s.B, report);
}

template <class Sum>
torch::Tensor checked_right(const Sum& s, int64_t k, TruncationReport* report) {
  validate(s);
  check_rank(k, s.B.size(0), s.A.size(1), "base_right_pinv_delta");
  return right_pinv_delta(truncated_delta(s, k), s.A, report);
}

}  // namespace

torch::Tensor base_left_pinv_delta(const SharedBaseSum& s, int64_t k, TruncationReport* report) {
  return checked_left(s, k, report);
}
torch::Tensor base_right_pinv_delta(const SharedBaseSum& s, int64_t k, TruncationReport* report) {
  return checked_right(s, k, report);
}

void validate(const FoldedBaseSum& f) {
  validate(SharedBaseSum{f.A, f.B, {f.a}, {f.b}, {1.0}});  // the base's shapes, and a, b as A's and B's
  require(f.L.size() == f.R.size(), "folded sum: " + std::to_string(f.L.size()) + " L and " +
                                        std::to_string(f.R.size()) + " R; need one of each per pair");
  for (size_t j = 0; j < f.L.size(); ++j) {
    const torch::Tensor &L = f.L[j], &R = f.R[j];
    require(L.defined() && R.defined() && L.dim() == 2 && R.dim() == 2 && L.size(0) == f.B.size(0) &&
                R.size(1) == f.A.size(1) && L.size(1) == R.size(0) && L.is_floating_point() && R.is_floating_point() &&
                L.device() == f.A.device() && R.device() == f.A.device(),
            "folded sum, pair " + std::to_string(j) + ": need L (d_out, k) and R (k, d_in), floating point, on A's device");
  }
}

FoldedBaseSum fold(const SharedBaseSum& s) {
  validate(s);
  const torch::ScalarType dtype = factor_dtype(s);
  FoldedBaseSum f{s.A, s.B, 0.0, torch::zeros(s.A.sizes(), s.A.options().dtype(dtype)),
                  torch::zeros(s.B.sizes(), s.B.options().dtype(dtype)), {}, {}};
  std::vector<torch::Tensor> left, right;
  for (size_t i = 0; i < s.w.size(); ++i) {
    f.s += s.w[i];
    f.a.add_(s.dA[i].to(dtype), s.w[i]);
    f.b.add_(s.dB[i].to(dtype), s.w[i]);
    left.push_back(s.dB[i].to(dtype) * s.w[i]);
    right.push_back(s.dA[i].to(dtype));
  }
  torch::Tensor L = torch::cat(left, 1), R = torch::cat(right, 0);
  if (L.size(1) > std::min(s.B.size(0), s.A.size(1))) {
    // L R = Qb (Rb Ra^T) Qa^T: keep the side with fewer columns as Q itself.
    torch::Tensor qb, tau_b, qa, tau_a;
    std::tie(qb, tau_b) = torch::geqrf(L);
    std::tie(qa, tau_a) = torch::geqrf(R.t().contiguous());
    const torch::Tensor core = r_factor(qb).matmul(r_factor(qa).t()).to(dtype);  // (kb, ka)
    if (core.size(0) <= core.size(1)) {
      L = apply_q(qb, tau_b, torch::eye(core.size(0), L.options()));
      R = apply_q(qa, tau_a, core.t().contiguous()).t().contiguous();
    } else {
      L = apply_q(qb, tau_b, core);
      R = apply_q(qa, tau_a, torch::eye(core.size(1), R.options())).t().contiguous();
    }
  }
  f.L.push_back(std::move(L));
  f.R.push_back(std::move(R));
  return f;
}

FoldedBaseSum merge(const std::vector<FoldedBaseSum>& folds, double scale) {
  require(!folds.empty(), "merge: no folds");
  FoldedBaseSum m{folds.front().A, folds.front().B, 0.0, torch::zeros_like(folds.front().a),
                  torch::zeros_like(folds.front().b), {}, {}};
  for (const FoldedBaseSum& f : folds) {
    validate(f);
    require(f.A.sizes() == m.A.sizes() && f.B.sizes() == m.B.sizes(), "merge: the folds have different bases");
    m.s += f.s * scale;
    m.a.add_(f.a, scale);
    m.b.add_(f.b, scale);
    for (size_t j = 0; j < f.L.size(); ++j) {
      if (f.L[j].size(1) == 0) continue;
      m.L.push_back(f.L[j] * scale);
      m.R.push_back(f.R[j]);
    }
  }
  return m;
}

torch::Tensor base_left_pinv_delta(const FoldedBaseSum& f, int64_t k, TruncationReport* report) {
  return checked_left(f, k, report);
}
torch::Tensor base_right_pinv_delta(const FoldedBaseSum& f, int64_t k, TruncationReport* report) {
  return checked_right(f, k, report);
}

LowRankSum as_low_rank_sum(const FoldedBaseSum& f) {
  validate(f);
  LowRankSum sum{{f.B, f.b}, {f.A * f.s + f.a, f.A}, {1.0, 1.0}};
  for (size_t j = 0; j < f.L.size(); ++j) {
    if (f.L[j].size(1) == 0) continue;
    sum.B.push_back(f.L[j]);
    sum.A.push_back(f.R[j]);
    sum.w.push_back(1.0);
  }
  return sum;
}

torch::Tensor pinv(const torch::Tensor& M) {
  require(M.dim() == 2 && M.is_floating_point(), "pinv: M must be a 2-D floating-point tensor");
  return pinv(M, static_cast<double>(std::max(M.size(0), M.size(1))) * FLT_EPSILON);
}

torch::Tensor pinv(const torch::Tensor& M, double rcond) {
  require(M.dim() == 2 && M.is_floating_point(), "pinv: M must be a 2-D floating-point tensor");
  const int64_t m = M.size(0), n = M.size(1);
  const auto out_dtype = M.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  if (m == 0 || n == 0) return torch::zeros({n, m}, M.options().dtype(out_dtype));
  // pinv(M) = pinv(M^T)^T, and LAPACK's SVD of a wide matrix is several
  // times slower than of its transpose (seen: 19 ms against 4 ms for
  // 64 x 3072 in float64).
  if (m < n) return pinv(M.t(), rcond).t();
  torch::Tensor U, S, Vh;
  std::tie(U, S, Vh) = torch::linalg_svd(M.to(torch::kFloat64), /*full_matrices=*/false);
  // S is descending: S[0] is the largest. A tensor threshold keeps this free
  // of host syncs on the GPU.
  const torch::Tensor keep = S > S[0] * rcond;
  const torch::Tensor S_inv = torch::where(keep, S.reciprocal(), torch::zeros_like(S));
  return (Vh.t() * S_inv).matmul(U.t()).to(out_dtype);
}

}  // namespace flb::linalg
