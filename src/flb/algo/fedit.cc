#include "flb/algo/fedit.h"

#include "flb/algo/fedavg.h"
#include "flb/algo/tensor_parts.h"

namespace flb::algo {

compress::Payload FedIT::encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) {
  compress::Payload p = empty_upload(ctx);
  for (size_t i = 0; i < local.size(); ++i) p.parts.push_back(dense_part(static_cast<uint32_t>(i), local[i] - global[i]));
  return p;
}

EncodedUpload FedIT::append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                   std::vector<uint8_t>& out) {
  return append_dense_upload(wire_id(), ctx, global, local, out);
}

compress::Payload FedIT::aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) {
  return dense_broadcast(wire_id(), weighted_mean_of_parts(uploads, global, weights(uploads)));
}

void FedIT::apply_download(int64_t, Tensors& global, const compress::Payload& download) {
  add_download(global, download);
}

std::unique_ptr<Algorithm> make_fedit(const Options& o, uint64_t seed) {
  return std::make_unique<FedIT>(o.get<LoraOptions>(), seed);
}

}  // namespace flb::algo
