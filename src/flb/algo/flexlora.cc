// FlexLoRA (Bai et al. 2024, as a FedSRD baseline): FedIT clients (dense
// dA, dB); the server reconstructs every client's product in full rank,
//
//   W_avg = sum_i w_i (B + dB_i)(A + dA_i)           (d_out, d_in), never formed
//
// takes its rank-r truncated SVD W_r = U S V^T through the factors
// (linalg::truncated_svd: stacked QR when m r < min(d_out, d_in), else
// randomized or dense) and broadcasts the new factors
//
//   B = U sqrt(S)   (d_out, r),    A = sqrt(S) V^T   (r, d_in)
//
// as dense parts tagged kReplaceTag: every rank copies them, so every
// rank's A, B are bitwise the server's and B A = W_r. (The FlexLoRA paper
// also lets clients use different ranks; here every client has rank r.)
#include <algorithm>
#include <cmath>
#include <functional>

#include "flb/algo/fedit.h"
#include "flb/algo/rank_fold.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/rng.h"
#include "flb/linalg/low_rank.h"

namespace flb::algo {
namespace {

class FlexLora : public FedIT, public FoldsPerRank {
 public:
  FlexLora(const LoraOptions& c, uint64_t seed) : FedIT(c, seed) {}
  // New A and B of every layer, dense, replacing the old.
  compress::WireSchema download_schema(const Tensors& tensors) const override {
    return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOnly);
  }

  bool aggregates_by_weighted_mean() const override { return false; }  // it reconstructs B_i A_i
  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    const std::vector<Tensors> deltas = upload_deltas(uploads, global);
    const std::vector<float> w = weights(uploads);
    return decompose_layers(round, global, [&](size_t l) {
      const torch::Tensor A = as_matrix(global[a_index(l)]), B = as_matrix(global[b_index(l)]);
      linalg::LowRankSum sum;  // reconstruct: the client factors of W_avg
      for (size_t k = 0; k < uploads.size(); ++k) {
        sum.B.push_back(B + as_matrix(deltas[k][b_index(l)]));
        sum.A.push_back(A + as_matrix(deltas[k][a_index(l)]));
        sum.w.push_back(w[k]);
      }
      return sum;
    });
  }

  // Hierarchical aggregation (rank_fold.h): W_avg from the ranks' folds.
  RankFold fold_rank(const std::vector<Upload>& uploads, const Tensors& global) const override {
    return fold_uploads(*this, uploads, global);
  }
  compress::Payload aggregate_folds(int64_t round, const std::vector<RankFold>& folds, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    const std::vector<linalg::FoldedBaseSum> merged = merge_folds(*this, folds, global);
    return decompose_layers(round, global, [&](size_t l) { return linalg::as_low_rank_sum(merged[l]); });
  }

  void apply_download(int64_t, Tensors& global, const compress::Payload& download) override {
    apply_lora_download(global, download);
  }

 private:
  // Per layer, the rank-r truncated SVD of W_avg = reconstruct(layer)
  // (r capped by min(d_out, d_in); extra columns stay 0) as new factors.
  compress::Payload decompose_layers(int64_t round, const Tensors& global,
                                     const std::function<linalg::LowRankSum(size_t)>& reconstruct) const {
    compress::Payload out;
    out.algorithm = wire_id();
    out.client = compress::kServerId;
    for (size_t l = 0; l < slots().size(); ++l) {
      const size_t ia = a_index(l), ib = b_index(l);
      const torch::Tensor A = as_matrix(global[ia]), B = as_matrix(global[ib]);  // (r, d_in), (d_out, r)
      const linalg::LowRankSum sum = reconstruct(l);
      const int64_t r = A.size(0), k = std::min({r, sum.d_out(), sum.d_in()});
      linalg::SvdOptions opt;
      opt.seed = mix64(seed_ ^ mix64(static_cast<uint64_t>(round) * 0x9e3779b97f4a7c15ull + l));
      const linalg::Svd svd = linalg::truncated_svd(sum, k, opt);
      const torch::Tensor root = svd.S.sqrt();
      torch::Tensor B_new = torch::zeros_like(B, torch::kFloat32), A_new = torch::zeros_like(A, torch::kFloat32);
      B_new.narrow(1, 0, k).copy_(svd.U * root);                      // U sqrt(S)
      A_new.narrow(0, 0, k).copy_(root.unsqueeze(1) * svd.V.t());     // sqrt(S) V^T
      for (auto [index, value] : {std::pair{ia, A_new}, std::pair{ib, B_new}}) {
        compress::Part part = dense_part(static_cast<uint32_t>(index), value);
        part.tag = kReplaceTag;
        out.parts.push_back(std::move(part));
      }
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_flexlora(const Options& o, uint64_t seed) {
  return std::make_unique<FlexLora>(o.get<LoraOptions>(), seed);
}

}  // namespace flb::algo
