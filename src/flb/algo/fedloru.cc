#include "flb/algo/fedloru.h"

#include <algorithm>

#include "flb/algo/factories.h"
#include "flb/algo/fedavg.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::algo {

FedLoRU::FedLoRU(const AlgoConfig& config, uint64_t seed, int pairs) : config_(config), seed_(seed) {
  spec_.rank = config.rank;
  spec_.alpha = config.alpha;
  spec_.pairs = pairs;
  spec_.zero_base = true;  // the authors train from W = 0 with both factors Kaiming-uniform
  spec_.zero_up = false;
}

Tensors FedLoRU::trainable(torch::nn::Module& model) {
  const auto layers = model::low_rank_layers(model);
  require(!layers.empty(), "fedloru: the model has no factorised layer");
  Tensors params;
  for (const auto& p : model.parameters()) {
    const bool frozen = std::any_of(layers.begin(), layers.end(), [&](auto* l) { return l->base().is_same(p); });
    if (!frozen) params.push_back(p);
  }
  auto index_of = [&](const torch::Tensor& t) {
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].is_same(t)) return i;
    throw Error("fedloru: factor not among the model's parameters");
  };
  for (auto* l : layers) {
    Slots s{l, {}, {}};
    for (int p = 0; p < l->pairs(); ++p) {
      s.up.push_back(index_of(l->up(p)));
      s.down.push_back(index_of(l->down(p)));
    }
    slots_.push_back(s);
  }
  uploaded_.assign(params.size(), true);
  return params;
}

compress::Payload FedLoRU::encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) {
  compress::Payload p;
  p.algorithm = wire_id();
  p.client = static_cast<uint32_t>(ctx.client);
  for (size_t i = 0; i < local.size(); ++i)
    if (uploaded_[i]) p.parts.push_back(dense_part(static_cast<uint32_t>(i), local[i] - global[i]));
  return p;
}

compress::WireSchema FedLoRU::upload_schema(const Tensors& tensors) const {
  compress::WireSchema s = compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOnly);
  for (size_t i = 0; i < s.tensors.size(); ++i)
    if (!uploaded_.at(i)) s.tensors[i].presence = compress::Presence::kNever;
  return s;
}

compress::Payload FedLoRU::aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) {
  return dense_broadcast(wire_id(), weighted_mean_of_parts(uploads, global));  // private factors: undefined, not sent
}

bool FedLoRU::merges_after(int64_t round) const {
  const int64_t r1 = round + 1;  // 1-based, as users count rounds
  if (config_.accumulate_every > 0 && r1 % config_.accumulate_every == 0) return true;
  return std::find(config_.accumulate_rounds.begin(), config_.accumulate_rounds.end(), r1) != config_.accumulate_rounds.end();
}

void FedLoRU::apply_download(int64_t round, Tensors& global, const compress::Payload& download) {
  add_download(global, download);
  if (merges_after(round)) merge(round, global);
}

void FedLoRU::merge(int64_t round, Tensors& global) {
  torch::NoGradGuard no_grad;
  for (size_t l = 0; l < slots_.size(); ++l) {
    Slots& s = slots_[l];
    s.layer->up(0).copy_(global[s.up[0]]);
    s.layer->down(0).copy_(global[s.down[0]]);
    Stream stream(seed_, StreamPurpose::kInit, static_cast<uint64_t>(round), l);  // same draw on every rank
    model::merge_and_reinit(*s.layer, 0, [&] { return stream.uniform(); });
    global[s.up[0]].copy_(s.layer->up(0));
    global[s.down[0]].copy_(s.layer->down(0));
  }
}

std::unique_ptr<Algorithm> make_fedloru(const AlgoConfig& c, uint64_t seed) { return std::make_unique<FedLoRU>(c, seed); }

}  // namespace flb::algo
