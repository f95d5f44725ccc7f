// FedSRD and FedSRD-e (Sparsify-Reconstruct-Decompose; ALGORITHMS.md,
// "FedSRD"). The algorithms themselves are registered as "fedsrd" and
// "fedsrd-e" (fedsrd.cc); this header names the server's steps so they
// read like the paper and can be tested one by one.
//
// Per LoRA layer, with the global A (r, d_in), B (d_out, r) every client
// started from, and client i's sparsified uploads dA_i, dB_i:
//
//   reconstruct   W_i   = (B + dB_i)(A + dA_i)
//   average       W_avg = sum_i w_i W_i                  (kept as factors)
//   truncate      W_r   = rank-r SVD of W_avg            (FedSRD; FedSRD-e: W_r = W_avg)
//   project       dW    = W_r - B A
//                 A-round: dA = pinv(B) dW, dB = 0;  B-round: dB = dW pinv(A), dA = 0
//   sparsify      drop each element of the solved factor with probability q,
//                 survivors / (1 - q), mask from Stream(seed, kServerMask, round, layer)
//
// None of these forms a d_out x d_in matrix: the truncation and the
// projections go through QRs of the stacked factors (linalg::SharedBaseSum).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "flb/linalg/low_rank.h"

namespace flb::algo::fedsrd {

enum class Factor { kA, kB };

// The factor 0-based `round` solves. first_b: round 0 solves B (the
// paper's Algorithm 1, which counts rounds from 1 and updates B on odd
// rounds); otherwise A (the authors' code: with B_0 = 0 its first round
// changes nothing, since pinv(0) = 0). Then they alternate.
Factor factor_of_round(int64_t round, bool first_b);

// W_avg = sum_i w[i] (B + dB[i]) (A + dA[i]) as a LowRankSum (matrices as
// in lora.h's as_matrix: A (r, d_in), B (d_out, r)).
linalg::LowRankSum reconstruct(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                               const std::vector<torch::Tensor>& dB, const std::vector<float>& w);

// The solved factor update for the target dW = W_target - B A, with
// W_avg = reconstruct(A, B, dA, dB, w) and W_target its rank-r truncation
// (truncate) or W_avg itself (FedSRD-e):
//   Factor::kA: pinv(B) dW   (r, d_in)
//   Factor::kB: dW pinv(A)   (d_out, r)
// r = A.size(0), capped by min(d_out, d_in); float32. Once B A is
// trained, W_target and B A agree to a few digits, and their difference
// taken in float32 would lose them. So FedSRD's truncation factorises the
// base apart from the updates, in the factors' precision, and B A cancels
// in a small float64 core (linalg::base_left_pinv_delta; exact, never the
// randomized SVD), and FedSRD-e's target is expanded in the updates
// (fedsrd.cc), which float32 holds to its rounding. Either way the result
// is the dense float64 reference's to near float32 rounding (server_bench
// and lora_algorithms_test measure it).
// With `report`, also the truncation error (NaN without truncation) and
// the extreme singular values of the inverted factor (linalg::TruncationReport).
torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                    const std::vector<torch::Tensor>& dB, const std::vector<float>& w, Factor factor, bool truncate,
                    linalg::TruncationReport* report = nullptr);

// The same solve from the folded W (hierarchical aggregation,
// algo/rank_fold.h): linalg's folded base_*_pinv_delta when truncating;
// FedSRD-e's expansion in the updates otherwise, with the updates' products
// as the pairs (L_j, R_j).
torch::Tensor solve(const linalg::FoldedBaseSum& folded, Factor factor, bool truncate,
                    linalg::TruncationReport* report = nullptr);

}  // namespace flb::algo::fedsrd
