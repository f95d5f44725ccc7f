// FedSRD and FedSRD-e (fedsrd.h has the server's steps).
//
// Client: per layer, per matrix (each dA and each dB separately), an
// importance-aware unstructured sparsification of the dense local update:
//
//   I(dB[u,v]) = |dB[u,v]| ||A_prev[v,:]||     I(dA[u,v]) = |dA[u,v]| ||B_new[:,u]||
//
// dropping the round(p n) lowest scores, p fixed (--upload-sparsity) or
// adaptive from the kurtosis of the importance scores; survivors rescaled
// to keep the matrix's L1 norm (the authors' code; the paper omits it:
// --no-l1-rescale). --sparsifier magnitude | random replace the scores by
// |d| or by uniform draws (Stream(seed, kClientMask, client, round)) for
// the paper's ablations; the drop ratio is the same in all three (adaptive:
// from the importance scores).
//
// Server: reconstruct, average, truncate, project, sparsify (fedsrd.h),
// then broadcast only the sparse factor update; every rank, the server
// included, adds the same sparse delta (the authors' code; the paper's
// Algorithm 1 updates the server with the dense delta).
//
// w_i defaults to 1 / m (--aggregation-weights auto = uniform), as the
// paper and its run scripts. --no-reconstruction (FedSRD only, the paper's
// ablation "without reconstruction") averages A and B of the sparse uploads
// separately instead, and broadcasts both averages through the same random
// download sparsification (our reading: only the server step is ablated).
#include "flb/algo/fedsrd.h"

#include <algorithm>

#include "flb/algo/factories.h"
#include "flb/algo/fedavg.h"
#include "flb/algo/lora.h"
#include "flb/compress/importance.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::algo {
namespace fedsrd {

Factor factor_of_round(int64_t round, bool first_b) {
  return ((round % 2 == 0) == first_b) ? Factor::kB : Factor::kA;
}

linalg::LowRankSum reconstruct(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                               const std::vector<torch::Tensor>& dB, const std::vector<float>& w) {
  require(dA.size() == w.size() && dB.size() == w.size(), "fedsrd::reconstruct: one dA, dB and weight per client");
  linalg::LowRankSum sum;
  for (size_t i = 0; i < w.size(); ++i) {
    sum.B.push_back(B + dB[i]);  // (d_out, r)
    sum.A.push_back(A + dA[i]);  // (r, d_in)
    sum.w.push_back(w[i]);
  }
  return sum;
}

torch::Tensor solve(const linalg::LowRankSum& w_avg, const torch::Tensor& A, const torch::Tensor& B, Factor factor,
                    bool truncate, uint64_t svd_seed) {
  const torch::Tensor A32 = A.to(torch::kFloat32), B32 = B.to(torch::kFloat32);
  if (factor == Factor::kA) {
    const torch::Tensor Bp = linalg::pinv(B32);  // (r, d_out)
    const torch::Tensor base = Bp.matmul(B32).matmul(A32);  // pinv(B) B A  (r, d_in)
    if (!truncate) return linalg::left_multiply(Bp, w_avg) - base;  // pinv(B) W_avg, each term r x r first
    const int64_t k = std::min({A32.size(0), w_avg.d_out(), w_avg.d_in()});
    const linalg::Svd svd = linalg::truncated_svd(w_avg, k, linalg::SvdPath::kAuto, svd_seed);
    return (Bp.matmul(svd.U) * svd.S).matmul(svd.V.t()) - base;  // pinv(B) U S V^T
  }
  const torch::Tensor Ap = linalg::pinv(A32);  // (d_in, r)
  const torch::Tensor base = B32.matmul(A32.matmul(Ap));  // B A pinv(A)  (d_out, r)
  if (!truncate) return linalg::right_multiply(w_avg, Ap) - base;
  const int64_t k = std::min({A32.size(0), w_avg.d_out(), w_avg.d_in()});
  const linalg::Svd svd = linalg::truncated_svd(w_avg, k, linalg::SvdPath::kAuto, svd_seed);
  return (svd.U * svd.S).matmul(svd.V.t().matmul(Ap)) - base;  // U S V^T pinv(A)
}

}  // namespace fedsrd

namespace {

class FedSrd : public LoraAlgorithm {
 public:
  FedSrd(const AlgoConfig& c, uint64_t seed, bool truncate)
      : LoraAlgorithm(c, seed, /*train_a=*/true, "uniform"), truncate_(truncate) {
    require(truncate || c.reconstruction, "--no-reconstruction: only for fedsrd (fedsrd-e always reconstructs)");
    ratio_.base = c.adaptive_base;
    ratio_.coeff = c.adaptive_coeff;
    ratio_.upper = c.adaptive_upper;
  }
  std::string name() const override { return truncate_ ? "fedsrd" : "fedsrd-e"; }
  uint16_t wire_id() const override { return truncate_ ? 12 : 13; }
  uint8_t upload_kinds() const override { return compress::kSparseOnly; }
  // The sparse factor update(s) of each layer.
  compress::WireSchema download_schema(const Tensors& tensors) const override {
    return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kSparseOnly, compress::Presence::kAtMostOnce);
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    compress::Payload p = empty_upload(ctx);
    Stream random_scores(seed_, StreamPurpose::kClientMask, static_cast<uint64_t>(ctx.client),
                         static_cast<uint64_t>(ctx.round));
    for (size_t l = 0; l < slots().size(); ++l) {
      const size_t ia = a_index(l), ib = b_index(l);
      const torch::Tensor dA = as_matrix(local[ia] - global[ia]), dB = as_matrix(local[ib] - global[ib]);
      require(torch::isfinite(dA).all().item<bool>() && torch::isfinite(dB).all().item<bool>(),
              "client " + std::to_string(ctx.client) + " diverged (its LoRA update is not finite); lower --lr");
      const torch::Tensor I_A = compress::importance_dA(dA, as_matrix(local[ib]));   // B_new: the client's dense B
      const torch::Tensor I_B = compress::importance_dB(dB, as_matrix(global[ia]));  // A_prev: the global A
      p.parts.push_back(sparsify(ia, dA, I_A, random_scores));
      p.parts.push_back(sparsify(ib, dB, I_B, random_scores));
    }
    return p;
  }

  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    if (!config_.reconstruction) return average_and_sparsify(round, uploads, global);
    const std::vector<Tensors> deltas = upload_deltas(uploads, global);
    const std::vector<float> w = weights(uploads);
    const fedsrd::Factor factor = fedsrd::factor_of_round(round, config_.fedsrd_first_round == "b");
    compress::Payload out = broadcast();
    for (size_t l = 0; l < slots().size(); ++l) {
      const size_t ia = a_index(l), ib = b_index(l);
      const torch::Tensor A = as_matrix(global[ia]), B = as_matrix(global[ib]);
      std::vector<torch::Tensor> dA, dB;
      for (const Tensors& d : deltas) {
        dA.push_back(as_matrix(d[ia]));
        dB.push_back(as_matrix(d[ib]));
      }
      const linalg::LowRankSum w_avg = fedsrd::reconstruct(A, B, dA, dB, w);  // reconstruct + average
      const torch::Tensor solved = fedsrd::solve(w_avg, A, B, factor, truncate_,  // truncate + project
                                                 mix64(seed_ ^ mix64((static_cast<uint64_t>(round) << 20) + l)));
      Stream mask(seed_, StreamPurpose::kServerMask, static_cast<uint64_t>(round), l);
      out.parts.push_back(download_part(factor == fedsrd::Factor::kA ? ia : ib, solved, mask));  // sparsify
    }
    return out;
  }

  void apply_download(int64_t, Tensors& global, const compress::Payload& download) override {
    add_download(global, download);  // the same sparse delta on every rank, the server's included
  }

 private:
  // One matrix's sparse upload part.
  compress::Part sparsify(size_t tensor, const torch::Tensor& values, const torch::Tensor& importance, Stream& random_scores) {
    const double p = config_.adaptive_sparsity
                         ? compress::adaptive_drop_ratio(compress::pearson_kurtosis(importance), ratio_)
                         : config_.upload_sparsity;
    torch::Tensor scores = importance;
    if (config_.sparsifier == "magnitude") {
      scores = values.abs();
    } else if (config_.sparsifier == "random") {
      scores = torch::empty(values.sizes(), torch::kFloat64);
      double* s = scores.data_ptr<double>();
      for (int64_t i = 0; i < scores.numel(); ++i) s[i] = random_scores.uniform();
    }
    compress::Part part = compress::sparsify_by_score(values, scores, std::min(p, 1.0), config_.l1_rescale);
    part.tensor = static_cast<uint32_t>(tensor);
    return part;
  }

  compress::Part download_part(size_t tensor, const torch::Tensor& update, Stream& mask) const {
    compress::Part part = compress::random_drop(update, config_.download_sparsity, mask);
    part.tensor = static_cast<uint32_t>(tensor);
    return part;
  }

  compress::Payload broadcast() const {
    compress::Payload out;
    out.algorithm = wire_id();
    out.client = compress::kServerId;
    return out;
  }

  // --no-reconstruction: FedIT's mean of the sparse uploads, A and B of
  // every layer through the random download sparsification (one mask
  // stream per layer, A drawn first).
  compress::Payload average_and_sparsify(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) const {
    const Tensors mean = weighted_mean_of_parts(uploads, global, weights(uploads));
    compress::Payload out = broadcast();
    for (size_t l = 0; l < slots().size(); ++l) {
      Stream mask(seed_, StreamPurpose::kServerMask, static_cast<uint64_t>(round), l);
      out.parts.push_back(download_part(a_index(l), mean[a_index(l)], mask));
      out.parts.push_back(download_part(b_index(l), mean[b_index(l)], mask));
    }
    return out;
  }

  bool truncate_;
  compress::AdaptiveRatio ratio_;
};

}  // namespace

std::unique_ptr<Algorithm> make_fedsrd(const AlgoConfig& c, uint64_t seed) {
  return std::make_unique<FedSrd>(c, seed, /*truncate=*/true);
}
std::unique_ptr<Algorithm> make_fedsrd_e(const AlgoConfig& c, uint64_t seed) {
  return std::make_unique<FedSrd>(c, seed, /*truncate=*/false);
}

}  // namespace flb::algo
