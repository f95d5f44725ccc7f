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

Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global, const std::vector<bool>& sent) {
  return weighted_mean_of_parts(uploads, global, sent, sample_weights(uploads));
}

Tensors weighted_mean_of_parts(const std::vector<Upload>& uploads, const Tensors& global, const std::vector<bool>& sent,
                               const std::vector<float>& w) {
  require(w.size() == uploads.size(), "weighted_mean_of_parts: one weight per upload");
  auto expected = [&](size_t i) { return sent.empty() || sent[i]; };
  Tensors mean(global.size());
  for (size_t i = 0; i < global.size(); ++i)
    if (expected(i)) mean[i] = torch::zeros_like(global[i], torch::kFloat32);
  std::vector<char> seen(global.size());
  for (size_t k = 0; k < uploads.size(); ++k) {
    const Upload& u = uploads[k];
    const std::string who = "client " + std::to_string(u.client) + ": ";
    std::fill(seen.begin(), seen.end(), 0);
    for (const compress::Part& part : u.payload.parts) {
      require(part.kind != compress::PartKind::kScalar, who + "unexpected scalar part for tensor " + std::to_string(part.tensor));
      require(expected(part.tensor), who + "sent tensor " + std::to_string(part.tensor) + ", which is never uploaded");
      require(!seen[part.tensor], who + "tensor " + std::to_string(part.tensor) + " sent twice");
      seen[part.tensor] = 1;
      add_part(mean[part.tensor], part, w[k]);
    }
    for (size_t i = 0; i < seen.size(); ++i)
      require(seen[i] || !expected(i), who + "upload lacks tensor " + std::to_string(i));
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

compress::Payload FedAvg::aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) {
  return dense_broadcast(wire_id(), weighted_mean_of_parts(uploads, global));
}

void FedAvg::apply_download(int64_t, Tensors& global, const compress::Payload& download) {
  add_download(global, download);
}

std::unique_ptr<Algorithm> make_fedavg(const Options&, uint64_t) { return std::make_unique<FedAvg>(); }

}  // namespace flb::algo
