#include "flb/algo/lora.h"

#include "flb/algo/fedavg.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"

namespace flb::algo {

model::LowRankSpec lora_spec(const AlgoConfig& c) {
  model::LowRankSpec spec;
  spec.rank = c.rank;
  spec.alpha = c.alpha;
  spec.pairs = 1;
  spec.zero_base = false;  // W0 is the (pretrained) base, frozen
  spec.zero_up = true;     // B = 0, A Kaiming-uniform: the adapter starts as the identity update
  return spec;
}

torch::Tensor as_matrix(const torch::Tensor& t) { return t.reshape({t.size(0), -1}); }

void apply_lora_download(Tensors& global, const compress::Payload& download) {
  torch::NoGradGuard no_grad;
  for (const compress::Part& part : download.parts) {  // decoded against the download schema
    torch::Tensor& target = global.at(part.tensor);
    if (part.tag == kReplaceTag) {
      require(part.kind == compress::PartKind::kDense, "download: a replacing part must be dense");
      target.copy_(part_to_dense(part, target));
    } else {
      add_part(target, part);
    }
  }
}

std::vector<Tensors> upload_deltas(const std::vector<Upload>& uploads, const Tensors& global) {
  std::vector<Tensors> deltas;
  deltas.reserve(uploads.size());
  for (const Upload& u : uploads) {
    Tensors d(global.size());
    for (const compress::Part& part : u.payload.parts) {
      const torch::Tensor& g = global.at(part.tensor);
      d[part.tensor] = part_to_dense(part, g).to(g.device());
    }
    deltas.push_back(std::move(d));
  }
  return deltas;
}

LoraAlgorithm::LoraAlgorithm(const AlgoConfig& c, uint64_t seed, bool train_a, const char* default_weights)
    : config_(c), seed_(seed), spec_(lora_spec(c)), train_a_(train_a) {
  const std::string w = c.aggregation_weights == "auto" ? default_weights : c.aggregation_weights;
  require(w == "samples" || w == "uniform", "--aggregation-weights: choose auto, samples or uniform");
  uniform_ = w == "uniform";
}

Tensors LoraAlgorithm::trainable(torch::nn::Module& model) {
  const auto layers = model::low_rank_layers(model);
  require(!layers.empty(), name() + ": the model has no LoRA layer (build it with the algorithm's model_spec())");
  Tensors params;
  slots_.clear();
  for (auto* l : layers) {
    require(l->pairs() == 1, name() + ": a LoRA layer has exactly one (B, A) pair");
    LoraSlot s;
    if (train_a_) {
      s.a = static_cast<int64_t>(params.size());
      params.push_back(l->down(0));
    }
    s.b = static_cast<int64_t>(params.size());
    params.push_back(l->up(0));
    slots_.push_back(s);
  }
  tensors_ = params.size();
  return params;
}

compress::WireSchema LoraAlgorithm::upload_schema(const Tensors& tensors) const {
  return compress::WireSchema::uniform(wire_id(), numels(tensors), upload_kinds());
}

std::vector<float> LoraAlgorithm::weights(const std::vector<Upload>& uploads) const {
  if (!uniform_) return sample_weights(uploads);
  require(!uploads.empty(), "aggregate: no upload this round");
  return std::vector<float>(uploads.size(), static_cast<float>(1.0 / static_cast<double>(uploads.size())));
}

compress::Payload LoraAlgorithm::empty_upload(const ClientContext& ctx) const {
  compress::Payload p;
  p.algorithm = wire_id();
  p.client = static_cast<uint32_t>(ctx.client);
  return p;
}

}  // namespace flb::algo
