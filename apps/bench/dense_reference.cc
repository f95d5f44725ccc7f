#include "dense_reference.h"

#include <torch/torch.h>

#include <tuple>

namespace flb_bench {

torch::Tensor dense_average(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                            const std::vector<torch::Tensor>& dB, const std::vector<float>& w) {
  const torch::Tensor A64 = A.to(torch::kFloat64), B64 = B.to(torch::kFloat64);
  torch::Tensor W = torch::zeros({B.size(0), A.size(1)}, A64.options());
  for (size_t i = 0; i < w.size(); ++i)
    W += static_cast<double>(w[i]) * (B64 + dB[i].to(torch::kFloat64)).matmul(A64 + dA[i].to(torch::kFloat64));
  return W;
}

torch::Tensor truncated(const torch::Tensor& W, int64_t k) {
  torch::Tensor U, S, Vh;
  std::tie(U, S, Vh) = torch::linalg_svd(W, false);
  k = std::min(k, S.size(0));
  return (U.narrow(1, 0, k) * S.narrow(0, 0, k)).matmul(Vh.narrow(0, 0, k));
}

torch::Tensor fedsrd_solve(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                           const std::vector<torch::Tensor>& dB, const std::vector<float>& w,
                           flb::algo::fedsrd::Factor factor, bool truncate) {
  const torch::Tensor W = dense_average(A, B, dA, dB, w);
  const torch::Tensor A64 = A.to(torch::kFloat64), B64 = B.to(torch::kFloat64);
  const torch::Tensor dW = (truncate ? truncated(W, A.size(0)) : W) - B64.matmul(A64);
  return factor == flb::algo::fedsrd::Factor::kA ? torch::linalg_pinv(B64).matmul(dW) : dW.matmul(torch::linalg_pinv(A64));
}

double max_rel_diff(const torch::Tensor& got, const torch::Tensor& want) {
  const torch::Tensor w = want.to(torch::kFloat64);
  return ((got.to(torch::kFloat64) - w).abs().max() / w.abs().max()).item<double>();
}

}  // namespace flb_bench
