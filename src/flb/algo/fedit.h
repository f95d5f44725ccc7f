// FedIT (LoRA FedAvg): clients upload dense dA, dB; the server averages A
// and B separately (w_i = n_i / n, or 1 / m with --aggregation-weights
// uniform). Note mean(B) mean(A) != mean(B A): the aggregation error that
// FlexLoRA and FedSRD remove by reconstructing in full rank.
//
// FedProx, FFA-LoRA and Fed-DARE (fedprox.cc, ffa_lora.cc, fed_dare.cc)
// extend this class: the server step is the same for all four.
#pragma once

#include "flb/algo/lora.h"

namespace flb::algo {

class FedIT : public LoraAlgorithm {
 public:
  FedIT(const LoraOptions& c, uint64_t seed, bool train_a = true)
      : LoraAlgorithm(c, seed, train_a, AggregationWeights::kSamples) {}
  // Dense dA, dB of every layer (dB only when A is frozen).
  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override;
  // The same bytes, each delta computed straight into `out` (as FedAvg):
  // no temporary per tensor and no copy. A subclass that overrides
  // encode_upload (Fed-DARE) must override this back to
  // Algorithm::append_upload.
  EncodedUpload append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                              std::vector<uint8_t>& out) override;
  // Dense weighted mean of each tensor's (dense or sparse) parts.
  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override;
  void apply_download(int64_t round, Tensors& global, const compress::Payload& download) override;
  // The mean of the parts, weighted by samples or uniformly (FlexLoRA,
  // which reconstructs, overrides this back to false).
  bool aggregates_by_weighted_mean() const override { return true; }
  double mean_weight(const Upload& upload) const override {
    return uniform_weights() ? 1.0 : static_cast<double>(upload.samples);
  }
};

}  // namespace flb::algo
