// linalg::LowRankSum against an independent Eigen (float64) reference: the
// explicitly summed W and its full SVD (BDCSVD), and the pseudo-inverse of
// CompleteOrthogonalDecomposition. Singular vectors are defined only up to
// sign (or rotation inside repeated values), so SVDs are compared through
// their singular values and their rank-k reconstructions U_k S_k V_k^T;
// every test prints the largest difference it saw.
#include "flb/linalg/low_rank.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::linalg {
namespace {

using Mat = Eigen::MatrixXd;

torch::Tensor randn(int64_t rows, int64_t cols, Stream& s) {
  torch::Tensor t = torch::empty({rows, cols}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < rows * cols; ++i) p[i] = static_cast<float>(s.normal());
  return t;
}

Mat to_eigen(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU, torch::kFloat64).contiguous();
  Mat m(c.size(0), c.size(1));
  const double* p = c.data_ptr<double>();
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m(i, j) = p[i * c.size(1) + j];
  return m;
}

// m terms B_i (d_out, r) A_i (r, d_in) with weights in [-0.5, 1.5) (FedSRD's
// are 1/m; the math must not depend on their sign).
LowRankSum random_sum(int64_t d_out, int64_t d_in, int64_t m, int64_t r, uint64_t seed) {
  Stream s(seed, StreamPurpose::kTest);
  LowRankSum sum;
  for (int64_t i = 0; i < m; ++i) {
    sum.B.push_back(randn(d_out, r, s));
    sum.A.push_back(randn(r, d_in, s));
    sum.w.push_back(2 * s.uniform() - 0.5);
  }
  return sum;
}

// The reference: W = sum_i w_i B_i A_i in float64 from the float32 factors.
Mat reference_dense(const LowRankSum& s) {
  Mat W = Mat::Zero(s.d_out(), s.d_in());
  for (size_t i = 0; i < s.B.size(); ++i) W += s.w[i] * to_eigen(s.B[i]) * to_eigen(s.A[i]);
  return W;
}

double max_abs(const Mat& m) { return m.size() ? m.cwiseAbs().maxCoeff() : 0.0; }

struct Diff {
  double singular = 0, reconstruction = 0, orthonormality = 0;
};

// Differences of `svd` from the reference SVD of W, relative to ||W||_2.
Diff compare(const Svd& svd, const Eigen::BDCSVD<Mat>& ref, int64_t k) {
  const Eigen::VectorXd S = ref.singularValues();
  const double scale = S(0);
  const Mat U = to_eigen(svd.U), V = to_eigen(svd.V);
  const Mat Sk = to_eigen(svd.S.unsqueeze(1));
  EXPECT_EQ(U.cols(), k);
  EXPECT_EQ(V.cols(), k);
  EXPECT_EQ(Sk.rows(), k);
  Diff d;
  d.singular = max_abs(Sk - S.head(k)) / scale;
  const Mat Wk_ref = ref.matrixU().leftCols(k) * S.head(k).asDiagonal() * ref.matrixV().leftCols(k).transpose();
  const Mat Wk = U * Sk.col(0).asDiagonal() * V.transpose();
  d.reconstruction = max_abs(Wk - Wk_ref) / scale;
  d.orthonormality = std::max(max_abs(U.transpose() * U - Mat::Identity(k, k)), max_abs(V.transpose() * V - Mat::Identity(k, k)));
  return d;
}

// Float32 outputs of a float64 computation: each entry is off by ~2^-24
// relative, U S V^T by a few of those (seen: <= 6e-8 of s1). 1e-6 leaves a
// factor ~16 for sums of k terms; float64 errors amplified by 1/gap stay
// far below float32 rounding for these random sums.
constexpr double kSvdTol = 1e-6;

// The stacked-QR path factors float32 stacks in float32: a backward-stable
// perturbation of W of ~eps32 ||W||, which moves the singular values by at
// most that (Weyl) and the rank-k truncation by up to that times
// 1 + s1 / (s_k - s_{k+1}) (Wedin's sin-theta theorem).
double truncation_tol(const Eigen::VectorXd& S, int64_t k) {
  const double gap = k < S.size() ? S(k - 1) - S(k) : S(k - 1);
  return kSvdTol * (1 + S(0) / std::max(gap, 1e-300));
}

LowRankSum to_float64(LowRankSum s) {
  for (auto& b : s.B) b = b.to(torch::kFloat64);
  for (auto& a : s.A) a = a.to(torch::kFloat64);
  return s;
}

struct Shape {
  int64_t d_out, d_in, m, r;
};

// m r < min(d) (stacked QR's home) and m r >= min(d) (W full rank).
const Shape kShapes[] = {{48, 40, 3, 4}, {30, 50, 4, 5}, {24, 20, 3, 8}, {16, 16, 5, 4}, {12, 33, 1, 12}};

TEST(LowRankSvd, EveryPathMatchesTheFullSvdOfTheSummedMatrix) {
  double worst_s = 0, worst_rec = 0, worst_orth = 0, worst_qr32 = 0;
  uint64_t seed = 1;
  for (const Shape& sh : kShapes) {
    const LowRankSum s = random_sum(sh.d_out, sh.d_in, sh.m, sh.r, seed++);
    const Mat W = reference_dense(s);
    const Eigen::BDCSVD<Mat> ref(W, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const int64_t mn = std::min(sh.d_out, sh.d_in), R = s.rank_bound();
    for (int64_t k = 1; k <= mn; ++k) {
      std::vector<SvdPath> paths = {SvdPath::kDense, SvdPath::kStackedQr, SvdPath::kAuto};
      // The range finder is exact when its l = min(k + p, min(d)) >= rank(W).
      if (k + SvdOptions{}.oversample >= std::min(R, mn)) paths.push_back(SvdPath::kRandomized);
      for (SvdPath path : paths) {
        SvdPath used = SvdPath::kAuto;
        const Diff d = compare(truncated_svd(s, k, path, 7, &used), ref, k);
        if (path != SvdPath::kAuto) {
          EXPECT_EQ(used, path);
        }
        const bool qr32 = used == SvdPath::kStackedQr;  // float32 QRs of the float32 stacks
        const double rec_tol = qr32 ? truncation_tol(ref.singularValues(), k) : kSvdTol;
        EXPECT_LT(d.singular, kSvdTol) << to_string(used) << " " << sh.d_out << "x" << sh.d_in << " R " << R << " k " << k;
        EXPECT_LT(d.reconstruction, rec_tol) << to_string(used) << " " << sh.d_out << "x" << sh.d_in << " R " << R << " k " << k;
        EXPECT_LT(d.orthonormality, kSvdTol) << to_string(used) << " k " << k;
        worst_s = std::max(worst_s, d.singular);
        (qr32 ? worst_qr32 : worst_rec) = std::max(qr32 ? worst_qr32 : worst_rec, d.reconstruction / rec_tol * kSvdTol);
        worst_orth = std::max(worst_orth, d.orthonormality);
      }
      // Float64 factors take float64 QRs: the flat float64 tolerance.
      const Diff d64 = compare(truncated_svd(to_float64(s), k, SvdPath::kStackedQr), ref, k);
      EXPECT_LT(d64.reconstruction, kSvdTol) << "float64 stacked-qr " << sh.d_out << "x" << sh.d_in << " k " << k;
      worst_rec = std::max(worst_rec, d64.reconstruction);
      const Diff d = compare(truncated_svd(dense(s), k), ref, k);  // the dense-input overload
      EXPECT_LT(d.reconstruction, kSvdTol);
      worst_rec = std::max(worst_rec, d.reconstruction);
    }
  }
  std::printf("max |S - S_ref| / s1 = %.2e, max |U S V^T - ref| / s1 = %.2e, max |U^T U - I|, |V^T V - I| = %.2e (tolerance %.0e); "
              "float32 stacked-qr: max |U S V^T - ref| / s1 / (1 + s1 / gap_k) = %.2e (tolerance %.0e)\n",
              worst_s, worst_rec, worst_orth, kSvdTol, worst_qr32, kSvdTol);
}

TEST(LowRankSvd, RankAboveTheSumsRankPadsWithZerosAndCompletesTheBases) {
  const LowRankSum s = random_sum(40, 30, 2, 3, 11);  // rank 6
  const Mat W = reference_dense(s);
  for (SvdPath path : {SvdPath::kStackedQr, SvdPath::kDense, SvdPath::kRandomized}) {
    const Svd svd = truncated_svd(s, 20, path, 3);
    const Mat U = to_eigen(svd.U), V = to_eigen(svd.V), S = to_eigen(svd.S.unsqueeze(1));
    const double orth = std::max(max_abs(U.transpose() * U - Mat::Identity(20, 20)), max_abs(V.transpose() * V - Mat::Identity(20, 20)));
    const double rec = max_abs(U * S.col(0).asDiagonal() * V.transpose() - W) / max_abs(W);
    const double tail = max_abs(S.bottomRows(14)) / S(0, 0);
    std::printf("%s k 20 > rank 6: |U S V^T - W| %.2e, orthonormality %.2e, S[6:] / s1 %.2e\n", to_string(path), rec, orth, tail);
    EXPECT_LT(orth, kSvdTol);
    EXPECT_LT(rec, kSvdTol);
    EXPECT_LT(tail, kSvdTol);
  }
}

TEST(LowRankSvd, RandomizedErrorWithinHalkosBoundWhenTheRankExceedsKPlusP) {
  // rank(W) = 64 > k + p: no longer exact. Halko, Martinsson & Tropp (2011),
  // Cor. 10.10 bounds E||(I - QQ^T) W|| by
  //   [(1 + sqrt(k/(p-1))) s_{k+1}^{2q+1} + e sqrt(k+p)/p sqrt(sum_{j>k} s_j^{2(2q+1)})]^{1/(2q+1)},
  // and truncating to rank k adds at most s_{k+1} (their Sec. 9.4).
  const SvdOptions o;  // p = 10, q = 2
  for (int64_t k : {1, 5, 20}) {
    const LowRankSum s = random_sum(120, 90, 8, 8, 20 + static_cast<uint64_t>(k));
    const Mat W = reference_dense(s);
    const Eigen::VectorXd S = Eigen::BDCSVD<Mat>(W).singularValues();
    const double e = 2 * o.power_iters + 1, p = static_cast<double>(o.oversample), kk = static_cast<double>(k);
    double tail = 0;
    for (int64_t j = k; j < S.size(); ++j) tail += std::pow(S(j), 2 * e);
    const double bound = S(k) + std::pow((1 + std::sqrt(kk / (p - 1))) * std::pow(S(k), e) +
                                             std::exp(1.0) * std::sqrt(kk + p) / p * std::sqrt(tail),
                                         1 / e);
    SvdOptions ok = o;
    ok.path = SvdPath::kRandomized;
    ok.seed = 5;
    const Svd svd = truncated_svd(s, k, ok);
    const Mat Wk = to_eigen(svd.U) * to_eigen(svd.S.unsqueeze(1)).col(0).asDiagonal() * to_eigen(svd.V).transpose();
    const double err = Eigen::BDCSVD<Mat>(W - Wk).singularValues()(0);
    std::printf("randomized k %2ld: ||W - W_k||_2 = %.4f, optimal s_{k+1} = %.4f (ratio %.4f), bound %.4f\n",
                static_cast<long>(k), err, S(k), err / S(k), bound);
    EXPECT_LE(err, bound);
    EXPECT_GE(err, S(k) * (1 - 1e-5));  // Eckart-Young: nothing beats the truncated SVD
  }
}

TEST(LowRankSvd, AutoPicksStackedQrForSmallSumsRandomizedForSmallKDenseOtherwise) {
  SvdPath used = SvdPath::kAuto;
  truncated_svd(random_sum(64, 64, 2, 4, 1), 4, SvdPath::kAuto, 0, &used);
  EXPECT_EQ(used, SvdPath::kStackedQr);
  truncated_svd(random_sum(200, 200, 20, 16, 2), 2, SvdPath::kAuto, 0, &used);  // R = 320 >= 200, k small
  EXPECT_EQ(used, SvdPath::kRandomized);
  truncated_svd(random_sum(40, 40, 20, 4, 3), 30, SvdPath::kAuto, 0, &used);  // R = 80 >= 40, k large
  EXPECT_EQ(used, SvdPath::kDense);
}

TEST(LowRankSvd, SameSeedSameRandomizedResult) {
  const LowRankSum s = random_sum(60, 50, 6, 8, 4);
  const Svd a = truncated_svd(s, 3, SvdPath::kRandomized, 9), b = truncated_svd(s, 3, SvdPath::kRandomized, 9);
  EXPECT_TRUE(torch::equal(a.U, b.U) && torch::equal(a.S, b.S) && torch::equal(a.V, b.V));
}

TEST(LowRankSum, RejectsMalformedTermsAndRanks) {
  LowRankSum s = random_sum(10, 8, 2, 3, 5);
  EXPECT_THROW(truncated_svd(s, 0), Error);
  EXPECT_THROW(truncated_svd(s, 9), Error);
  s.A[1] = torch::zeros({4, 8});
  EXPECT_THROW(dense(s), Error);
  s.A[1] = torch::zeros({3, 7});
  EXPECT_THROW(dense(s), Error);
  s.A[1] = torch::zeros({3, 8});
  s.w.pop_back();
  EXPECT_THROW(dense(s), Error);
  EXPECT_THROW(dense(LowRankSum{}), Error);
}

TEST(LowRankSum, DenseAndFactorProductsEqualTheDenseProducts) {
  double worst = 0;
  uint64_t seed = 30;
  for (const Shape& sh : kShapes) {
    const LowRankSum s = random_sum(sh.d_out, sh.d_in, sh.m, sh.r, seed++);
    Stream st(seed, StreamPurpose::kTest, 1);
    const torch::Tensor P = randn(7, sh.d_out, st), Q = randn(sh.d_in, 5, st);
    const Mat W = reference_dense(s);
    const Mat PW = to_eigen(P) * W, WQ = W * to_eigen(Q);
    const double dw = max_abs(to_eigen(dense(s)) - W) / max_abs(W);
    const double dl = max_abs(to_eigen(left_multiply(P, s)) - PW) / max_abs(PW);
    const double dr = max_abs(to_eigen(right_multiply(s, Q)) - WQ) / max_abs(WQ);
    EXPECT_EQ(left_multiply(P, s).sizes(), torch::IntArrayRef({7, sh.d_in}));
    EXPECT_EQ(right_multiply(s, Q).sizes(), torch::IntArrayRef({sh.d_out, 5}));
    worst = std::max({worst, dw, dl, dr});
    EXPECT_LT(std::max({dw, dl, dr}), 1e-5);
    EXPECT_LT(max_abs(to_eigen(dense(s, torch::kFloat64)) - W) / max_abs(W), 1e-12);
  }
  std::printf("max relative |dense, P W, W Q - Eigen| = %.2e (tolerance 1e-5, float32)\n", worst);
}

TEST(LowRankPinv, SatisfiesThePenroseConditionsAndMatchesEigen) {
  // Full rank (tall, wide, square) and rank-deficient (a float32 rank-3 product).
  Stream st(40, StreamPurpose::kTest);
  std::vector<torch::Tensor> cases = {randn(64, 8, st), randn(8, 64, st), randn(20, 20, st),
                                      torch::matmul(randn(30, 3, st), randn(3, 25, st))};
  double worst_penrose = 0, worst_ref = 0;
  for (const torch::Tensor& M : cases) {
    const torch::Tensor X = pinv(M);
    ASSERT_EQ(X.sizes(), torch::IntArrayRef({M.size(1), M.size(0)}));
    ASSERT_EQ(X.scalar_type(), torch::kFloat32);
    const Mat A = to_eigen(M), P = to_eigen(X);
    const double na = max_abs(A), np = max_abs(P);
    const double penrose = std::max({max_abs(A * P * A - A) / na, max_abs(P * A * P - P) / np,
                                     max_abs((A * P).transpose() - A * P), max_abs((P * A).transpose() - P * A)});
    // Eigen's reference drops the same float32 noise: threshold rcond as pinv's.
    Eigen::CompleteOrthogonalDecomposition<Mat> cod;
    cod.setThreshold(static_cast<double>(std::max(M.size(0), M.size(1))) * 1.1920929e-7);
    cod.compute(A);
    const double ref = max_abs(P - cod.pseudoInverse()) / np;
    std::printf("pinv %ldx%ld rank %ld: Penrose residual %.2e, |pinv - Eigen COD| / |pinv| %.2e\n",
                static_cast<long>(M.size(0)), static_cast<long>(M.size(1)), static_cast<long>(cod.rank()), penrose, ref);
    EXPECT_LT(penrose, 1e-5);
    EXPECT_LT(ref, 1e-5);
    worst_penrose = std::max(worst_penrose, penrose);
    worst_ref = std::max(worst_ref, ref);
  }
  std::printf("max Penrose residual %.2e, max |pinv - Eigen| %.2e (tolerance 1e-5)\n", worst_penrose, worst_ref);
}

// A shared-base sum: base B A of unit scale, m updates `scale` of it (as
// after a few FedSRD rounds), weights in [-0.5, 1.5).
SharedBaseSum random_shared_base(const Shape& sh, double scale, uint64_t seed) {
  Stream st(seed, StreamPurpose::kTest);
  SharedBaseSum s;
  s.B = randn(sh.d_out, sh.r, st);
  s.A = randn(sh.r, sh.d_in, st);
  for (int64_t i = 0; i < sh.m; ++i) {
    s.dB.push_back(randn(sh.d_out, sh.r, st) * scale);
    s.dA.push_back(randn(sh.r, sh.d_in, st) * scale);
    s.w.push_back(2 * st.uniform() - 0.5);
  }
  return s;
}

// pinv(B) (W_k - B A) and (W_k - B A) pinv(A) from Eigen in float64: W
// summed explicitly, BDCSVD, truncated, and COD pseudo-inverses.
struct SharedBaseReference {
  Mat left, right;
  Eigen::VectorXd S;
};

SharedBaseReference shared_base_reference(const SharedBaseSum& s, int64_t k) {
  const Mat A = to_eigen(s.A), B = to_eigen(s.B);
  Mat W = Mat::Zero(B.rows(), A.cols());
  for (size_t i = 0; i < s.w.size(); ++i) W += s.w[i] * (B + to_eigen(s.dB[i])) * (A + to_eigen(s.dA[i]));
  const Eigen::BDCSVD<Mat> svd(W, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const Eigen::VectorXd S = svd.singularValues();
  const Mat D = svd.matrixU().leftCols(k) * S.head(k).asDiagonal() * svd.matrixV().leftCols(k).transpose() - B * A;
  return {B.completeOrthogonalDecomposition().pseudoInverse() * D, D * A.completeOrthogonalDecomposition().pseudoInverse(), S};
}

// Float32 factors: the QRs perturb each stacked column by float32 rounding
// of its own size, so the error is float32 rounding of the result, times
// the truncation's conditioning 1 + s1 / gap_k (Wedin) and the projected
// factor's condition number (seen below 2e-6 here; kSvdTol = 1e-6 per unit
// of that product). Float64 factors: the same at 1e-11.
TEST(LowRankSharedBase, PinvProjectedTruncationsEqualEigensAtEveryScaleAndRank) {
  double worst = 0, worst64 = 0;
  uint64_t seed = 51;
  for (const Shape& sh : kShapes) {
    for (double scale : {1.0, 1e-3}) {
      const SharedBaseSum s = random_shared_base(sh, scale, seed++);
      for (int64_t k : {int64_t{1}, std::min({sh.r, sh.d_out, sh.d_in})}) {
        const SharedBaseReference ref = shared_base_reference(s, k);
        const torch::Tensor left = base_left_pinv_delta(s, k), right = base_right_pinv_delta(s, k);
        ASSERT_EQ(left.scalar_type(), torch::kFloat32);
        ASSERT_EQ(left.sizes(), torch::IntArrayRef({sh.r, sh.d_in}));
        ASSERT_EQ(right.sizes(), torch::IntArrayRef({sh.d_out, sh.r}));
        const Eigen::JacobiSVD<Mat> sb(to_eigen(s.B)), sa(to_eigen(s.A));
        const double cond = std::max(sb.singularValues()(0) / sb.singularValues().tail(1)(0),
                                     sa.singularValues()(0) / sa.singularValues().tail(1)(0));
        const double tol = truncation_tol(ref.S, k) * cond;
        const double d = std::max(max_abs(to_eigen(left) - ref.left) / max_abs(ref.left),
                                  max_abs(to_eigen(right) - ref.right) / max_abs(ref.right));
        EXPECT_LT(d, tol) << sh.d_out << "x" << sh.d_in << " m " << sh.m << " r " << sh.r << " scale " << scale << " k " << k;
        worst = std::max(worst, d / tol);
        SharedBaseSum s64 = s;
        s64.A = s.A.to(torch::kFloat64);
        s64.B = s.B.to(torch::kFloat64);
        const torch::Tensor left64 = base_left_pinv_delta(s64, k);
        ASSERT_EQ(left64.scalar_type(), torch::kFloat64);
        const double d64 = max_abs(to_eigen(left64) - ref.left) / max_abs(ref.left);
        EXPECT_LT(d64, tol * 1e-5) << sh.d_out << "x" << sh.d_in << " scale " << scale << " k " << k;
        worst64 = std::max(worst64, d64 / tol);
      }
    }
  }
  std::printf("pinv(B) (W_k - B A), (W_k - B A) pinv(A) against Eigen: float32 factors at most %.2f of the tolerance "
              "1e-6 (1 + s1 / gap_k) cond; float64 factors %.2e of it (limit 1e-5)\n", worst, worst64);
}

// The report (FedSRD's /server_diagnostics) against Eigen: the relative
// Frobenius error of the rank-k truncation of the dense W, and the extreme
// singular values of B (left solve) and A (right solve).
TEST(LowRankSharedBase, TruncationReportEqualsEigensTruncationErrorAndFactorSingularValues) {
  double worst = 0;
  uint64_t seed = 71;
  for (const Shape& sh : kShapes) {
    const SharedBaseSum s = random_shared_base(sh, 1.0, seed++);
    const int64_t k = std::max<int64_t>(1, std::min({sh.r, sh.d_out, sh.d_in}) - 1);  // something to discard
    const SharedBaseReference ref = shared_base_reference(s, k);
    const double kept = ref.S.head(k).squaredNorm(), all = ref.S.squaredNorm();
    const double want_error = std::sqrt((all - kept) / all);
    const Eigen::JacobiSVD<Mat> sb(to_eigen(s.B)), sa(to_eigen(s.A));
    TruncationReport left, right;
    base_left_pinv_delta(s, k, &left);
    base_right_pinv_delta(s, k, &right);
    const double diffs[] = {
        std::abs(left.truncation_error - want_error) / std::max(want_error, 1e-300),
        std::abs(right.truncation_error - want_error) / std::max(want_error, 1e-300),
        std::abs(left.inverted_sigma_max / sb.singularValues()(0) - 1),
        std::abs(left.inverted_sigma_min / sb.singularValues().tail(1)(0) - 1),
        std::abs(right.inverted_sigma_max / sa.singularValues()(0) - 1),
        std::abs(right.inverted_sigma_min / sa.singularValues().tail(1)(0) - 1)};
    for (double d : diffs) {
      EXPECT_LT(d, 1e-4) << sh.d_out << "x" << sh.d_in << " m " << sh.m << " r " << sh.r << " k " << k;
      worst = std::max(worst, d);
    }
  }
  std::printf("truncation error and the inverted factor's extreme singular values against Eigen: worst relative "
              "difference %.2e (tolerance 1e-4: float32 factors)\n", worst);
  // W = 0 (zero base and updates): no error to report, not NaN.
  SharedBaseSum zero = random_shared_base({20, 30, 2, 3}, 1.0, 9);
  zero.A = torch::zeros_like(zero.A);
  zero.B = torch::zeros_like(zero.B);
  for (auto& d : zero.dA) d = torch::zeros_like(d);
  for (auto& d : zero.dB) d = torch::zeros_like(d);
  TruncationReport r;
  base_left_pinv_delta(zero, 2, &r);
  EXPECT_EQ(r.truncation_error, 0.0);
  EXPECT_EQ(r.inverted_sigma_min, 0.0);
}

TEST(LowRankSharedBase, ZeroBaseGivesZeroLeftSolveAndBadInputThrows) {
  // FedSRD's first A-round with B = 0: pinv(0) = 0, whatever the updates.
  SharedBaseSum s = random_shared_base({20, 30, 2, 3}, 1.0, 7);
  s.B = torch::zeros_like(s.B);
  EXPECT_TRUE(torch::equal(base_left_pinv_delta(s, 3), torch::zeros({3, 30})));
  EXPECT_THROW(base_left_pinv_delta(s, 0), Error);
  EXPECT_THROW(base_right_pinv_delta(s, 21), Error);
  s.dA.pop_back();
  EXPECT_THROW(base_left_pinv_delta(s, 2), Error);
  SharedBaseSum t = random_shared_base({20, 30, 2, 3}, 1.0, 8);
  t.dB[1] = torch::zeros({20, 4});
  EXPECT_THROW(base_right_pinv_delta(t, 2), Error);
}

// Hierarchical aggregation: the terms split over "ranks" (two groups and
// an empty rank), each group folded with twice its weights, merged with
// scale 1/2, must give SharedBaseSum's solves (Eigen's reference and the
// same tolerance as above) and, as a LowRankSum, W itself. A group with
// m r > min(d) is QR-reduced to min(d) columns.
TEST(LowRankFoldedBase, FoldedRanksGiveTheSharedBaseSolvesAndW) {
  double worst = 0, worst_w = 0;
  uint64_t seed = 91;
  for (const Shape& sh : kShapes) {
    const SharedBaseSum s = random_shared_base(sh, 0.3, seed++);
    const int64_t k = std::min({sh.r, sh.d_out, sh.d_in}), mn = std::min(sh.d_out, sh.d_in);
    std::vector<FoldedBaseSum> ranks;
    const size_t half = (s.w.size() + 1) / 2;
    for (auto [from, to] : {std::pair{size_t{0}, half}, std::pair{half, s.w.size()}}) {
      if (from == to) continue;
      SharedBaseSum part{s.A, s.B, {}, {}, {}};
      for (size_t i = from; i < to; ++i) {
        part.dA.push_back(s.dA[i]);
        part.dB.push_back(s.dB[i]);
        part.w.push_back(2 * s.w[i]);
      }
      ranks.push_back(fold(part));
      const int64_t stacked = static_cast<int64_t>(to - from) * sh.r;
      EXPECT_EQ(ranks.back().L.at(0).size(1), std::min(stacked, mn)) << "fold width";
    }
    ranks.push_back({s.A, s.B, 0.0, torch::zeros_like(s.A), torch::zeros_like(s.B), {torch::zeros({sh.d_out, 0})},
                     {torch::zeros({0, sh.d_in})}});  // a rank without uploads
    const FoldedBaseSum merged = merge(ranks, 0.5);
    const SharedBaseReference ref = shared_base_reference(s, k);
    const Eigen::JacobiSVD<Mat> sb(to_eigen(s.B)), sa(to_eigen(s.A));
    const double cond = std::max(sb.singularValues()(0) / sb.singularValues().tail(1)(0),
                                 sa.singularValues()(0) / sa.singularValues().tail(1)(0));
    const double tol = truncation_tol(ref.S, k) * cond;
    const double d = std::max(max_abs(to_eigen(base_left_pinv_delta(merged, k)) - ref.left) / max_abs(ref.left),
                              max_abs(to_eigen(base_right_pinv_delta(merged, k)) - ref.right) / max_abs(ref.right));
    EXPECT_LT(d, tol) << sh.d_out << "x" << sh.d_in << " m " << sh.m << " r " << sh.r;
    worst = std::max(worst, d / tol);
    Mat W = Mat::Zero(sh.d_out, sh.d_in);
    for (size_t i = 0; i < s.w.size(); ++i)
      W += s.w[i] * (to_eigen(s.B) + to_eigen(s.dB[i])) * (to_eigen(s.A) + to_eigen(s.dA[i]));
    const double dw = max_abs(to_eigen(dense(as_low_rank_sum(merged))) - W) / max_abs(W);
    EXPECT_LT(dw, 1e-5) << sh.d_out << "x" << sh.d_in;
    worst_w = std::max(worst_w, dw);
  }
  std::printf("folded ranks against Eigen: the solves at most %.2f of SharedBaseSum's tolerance; W as a low-rank "
              "sum %.2e from the dense sum (tolerance 1e-5)\n", worst, worst_w);
  FoldedBaseSum bad = fold(random_shared_base({20, 30, 2, 3}, 1.0, 5));
  bad.R.at(0) = torch::zeros({2, 30});  // k differs from L's
  EXPECT_THROW(base_left_pinv_delta(bad, 2), Error);
}

TEST(LowRankPinv, WideMatricesAndFloat64KeepTheirContract) {
  Stream st(43, StreamPurpose::kTest);
  const torch::Tensor M = randn(6, 50, st);  // wide: through pinv(M^T)^T
  const torch::Tensor X = pinv(M), X64 = pinv(M.to(torch::kFloat64));
  EXPECT_EQ(X.scalar_type(), torch::kFloat32);
  EXPECT_EQ(X64.scalar_type(), torch::kFloat64);
  const Mat ref = to_eigen(M).completeOrthogonalDecomposition().pseudoInverse();
  const double d32 = max_abs(to_eigen(X) - ref) / max_abs(ref), d64 = max_abs(to_eigen(X64) - ref) / max_abs(ref);
  std::printf("wide pinv: float32 %.2e (tolerance 1e-6), float64 %.2e (tolerance 1e-12) from Eigen\n", d32, d64);
  EXPECT_LT(d32, 1e-6);
  EXPECT_LT(d64, 1e-12);
}

TEST(LowRankPinv, RecoversDAFromBdAWhenBHasFullColumnRank) {
  // FedSRD's A-round solve, dA = pinv(B) dW with dW = B dA: exact up to
  // float32 rounding of B dA amplified by cond(B).
  Stream st(41, StreamPurpose::kTest);
  const torch::Tensor B = randn(96, 16, st), dA = randn(16, 40, st);
  const torch::Tensor got = pinv(B).matmul(B.matmul(dA));
  const double diff = (got - dA).abs().max().item<double>() / dA.abs().max().item<double>();
  std::printf("|pinv(B) (B dA) - dA| / |dA| = %.2e (tolerance 1e-5)\n", diff);
  EXPECT_LT(diff, 1e-5);
}

TEST(LowRankPinv, ZeroMatrixGivesZero) {
  const torch::Tensor X = pinv(torch::zeros({12, 5}));
  EXPECT_EQ(X.sizes(), torch::IntArrayRef({5, 12}));
  EXPECT_TRUE(torch::equal(X, torch::zeros({5, 12})));
}

}  // namespace
}  // namespace flb::linalg
