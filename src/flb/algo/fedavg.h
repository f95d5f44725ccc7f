// FedAvg (McMahan et al. 2017): clients upload the dense delta of every
// parameter; the server takes the sample-weighted mean of the deltas.
#pragma once

#include "flb/algo/algorithm.h"

namespace flb::algo {

class FedAvg final : public Algorithm {
 public:
  Tensors trainable(torch::nn::Module& model) override;
  bool plain_local_training() const override { return true; }
  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override;
  // The bytes of encode_upload's payload, each delta computed straight
  // into `out` (no temporary tensor, no copy).
  EncodedUpload append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                              std::vector<uint8_t>& out) override;
  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override;
  void apply_download(int64_t round, Tensors& global, const compress::Payload& download) override;
  bool aggregates_by_weighted_mean() const override { return true; }  // sample weights
};

// Shared by the algorithms whose server step is FedAvg's: the weighted
// mean (weights samples / total) of each tensor's dense or sparse parts
// over the uploads, as dense tensors shaped like `global`; a tensor no
// upload sends gets an undefined mean. REQUIRES: the uploads passed
// decode() against the algorithm's upload schema (no scalar part, no
// tensor twice; a tensor the schema requires is in every upload).
Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global);
// The same with explicit weights, one per upload (they need not sum to 1).
Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global, const std::vector<float>& weights);

// Sample weights n_i / sum n of the uploads, in their order.
std::vector<float> sample_weights(const std::vector<Upload>& uploads);

// Appends the upload {one dense part per tensor: local[k] - global[k]},
// each difference written straight into `out` (FedAvg's and FedIT's
// append_upload: the bytes of their encode_upload, encoded).
EncodedUpload append_dense_upload(uint16_t wire_id, const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                  std::vector<uint8_t>& out);

// A payload of dense parts, one per defined tensor, from the server to everyone.
compress::Payload dense_broadcast(uint16_t wire_id, const Tensors& tensors);

// Adds every dense or sparse part of `download` to the tensor it names.
void add_download(Tensors& global, const compress::Payload& download);

}  // namespace flb::algo
