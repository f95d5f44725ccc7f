// Dense float64 references for the LoRA server math, shared by the
// benchmarks that check their results (server_bench, flcomm): they form
// the d_out x d_in matrices the factored paths avoid, so they are slow
// and obviously right.
//
// Matrices as in algo/lora.h: A (r, d_in), B (d_out, r); dA[i], dB[i]
// client i's updates; w[i] its weight.
#pragma once

#include <torch/types.h>

#include <vector>

#include "flb/algo/fedsrd.h"

namespace flb_bench {

// W_avg = sum_i w[i] (B + dB[i]) (A + dA[i]), float64, from the float32
// updates themselves.
torch::Tensor dense_average(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                            const std::vector<torch::Tensor>& dB, const std::vector<float>& w);

// The best rank-k approximation of W (full SVD, truncated).
torch::Tensor truncated(const torch::Tensor& W, int64_t k);

// FedSRD's solved factor (fedsrd::solve's contract) the dense way: W_avg
// formed, truncated to rank r = A.size(0) when `truncate`, projected with
// a float64 pinv.
torch::Tensor fedsrd_solve(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                           const std::vector<torch::Tensor>& dB, const std::vector<float>& w,
                           flb::algo::fedsrd::Factor factor, bool truncate);

// max |got - want| / max |want|, in float64.
double max_rel_diff(const torch::Tensor& got, const torch::Tensor& want);

}  // namespace flb_bench
