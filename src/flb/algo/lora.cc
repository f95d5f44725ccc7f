#include "flb/algo/lora.h"

#include "flb/algo/fedavg.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"

namespace flb::algo {

void LoraOptions::add_options(CLI::App& app) {
  app.add_option("--lora-rank", rank, "fedloru, pfedloru, mfedloru, LoRA: rank r of the low-rank updates")
      ->check(CLI::Range(int64_t{1}, int64_t{65536}))->group(kOptionsHelpGroup);
  app.add_option("--alpha", alpha, "low-rank scale s = alpha / r")->check(CLI::PositiveNumber)->group(kOptionsHelpGroup);
  add_choice(app, "--aggregation-weights", weights,
             {{"auto", AggregationWeights::kAuto}, {"samples", AggregationWeights::kSamples},
              {"uniform", AggregationWeights::kUniform}},
             "LoRA family: client weights w_i: samples (n_i / n), uniform (1 / m), or auto (fedsrd, fedsrd-e: "
             "uniform, as the paper; the others: samples)")
      ->group(kOptionsHelpGroup);
}

void LoraOptions::validate(const Options&) const { require(rank >= 1, "--lora-rank: must be at least 1"); }

std::unique_ptr<OptionGroup> lora_options() { return std::make_unique<LoraOptions>(); }

model::LowRankSpec lora_spec(const LoraOptions& c) {
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

LoraAlgorithm::LoraAlgorithm(const LoraOptions& c, uint64_t seed, bool train_a, AggregationWeights default_weights)
    : seed_(seed), spec_(lora_spec(c)), train_a_(train_a) {
  const AggregationWeights w = c.weights == AggregationWeights::kAuto ? default_weights : c.weights;
  require(w != AggregationWeights::kAuto, "LoraAlgorithm: the default weights must be samples or uniform");
  uniform_ = w == AggregationWeights::kUniform;
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
