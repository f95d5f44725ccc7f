#include "flb/algo/fedavg.h"

#include "flb/algo/options.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"

namespace flb::algo {

std::vector<float> sample_weights(const std::vector<Upload>& uploads) {
  int64_t total = 0;
  for (const Upload& u : uploads) total += u.samples;
  require(total > 0, "aggregate: the round's uploads hold no samples");
  std::vector<float> w;
  for (const Upload& u : uploads) w.push_back(static_cast<float>(static_cast<double>(u.samples) / static_cast<double>(total)));
  return w;
}

Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global) {
  return weighted_mean_of_parts(uploads, global, sample_weights(uploads));
}

Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global, const std::vector<float>& w) {
  require(w.size() == uploads.size(), "weighted_mean_of_parts: one weight per upload");
  Tensors mean(global.size());
  for (size_t k = 0; k < uploads.size(); ++k) {
    for (const compress::Part& part : uploads[k].payload.parts) {
      torch::Tensor& m = mean.at(part.tensor);
      if (!m.defined()) m = torch::zeros_like(global[part.tensor], torch::kFloat32);
      add_part(m, part, w[k]);
    }
  }
  return mean;
}

compress::Payload dense_broadcast(uint16_t wire_id, const Tensors& tensors) {
  compress::Payload p;
  p.algorithm = wire_id;
  p.client = compress::kServerId;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].defined()) p.parts.push_back(dense_part(static_cast<uint32_t>(i), tensors[i]));
  return p;
}

void add_download(Tensors& global, const compress::Payload& download) {
  for (const compress::Part& part : download.parts) add_part(global[part.tensor], part);
}

Tensors FedAvg::trainable(torch::nn::Module& model) { return model.parameters(); }

compress::Payload FedAvg::encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) {
  compress::Payload p;
  p.algorithm = wire_id();
  p.client = static_cast<uint32_t>(ctx.client);
  for (size_t i = 0; i < local.size(); ++i) p.parts.push_back(dense_part(static_cast<uint32_t>(i), local[i] - global[i]));
  return p;
}

EncodedUpload append_dense_upload(uint16_t wire_id, const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                  std::vector<uint8_t>& out) {
  EncodedUpload e;
  for (const torch::Tensor& t : local) e.values += t.numel();
  e.bytes = static_cast<int64_t>(compress::append_dense_differences(wire_id, static_cast<uint32_t>(ctx.client), local, global, out));
  return e;
}

EncodedUpload FedAvg::append_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local,
                                    std::vector<uint8_t>& out) {
  return append_dense_upload(wire_id(), ctx, global, local, out);
}

compress::Payload FedAvg::aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) {
  return dense_broadcast(wire_id(), weighted_mean_of_parts(uploads, global));
}

void FedAvg::apply_download(int64_t, Tensors& global, const compress::Payload& download) {
  add_download(global, download);
}

std::unique_ptr<Algorithm> make_fedavg(const Options&, uint64_t) { return std::make_unique<FedAvg>(); }

}  // namespace flb::algo
