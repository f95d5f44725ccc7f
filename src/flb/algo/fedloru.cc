#include "flb/algo/fedloru.h"

#include <algorithm>

#include "flb/algo/fedavg.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::algo {

void FedLoruOptions::add_options(CLI::App& app) {
  app.add_option("--accumulate-every", accumulate_every, "fedloru family: merge s*U*D into W every T rounds (0: never)")
      ->check(CLI::Range(int64_t{0}, int64_t{10000000}))->group(kOptionsHelpGroup);
  app.add_option("--accumulate-rounds", accumulate_rounds, "fedloru family: merge after these 1-based rounds (list)")
      ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(kOptionsHelpGroup);
}

void FedLoruOptions::validate(const Options&) const {
  for (int64_t r : accumulate_rounds) require(r >= 1, "--accumulate-rounds: rounds are counted from 1");
}

std::unique_ptr<OptionGroup> fedloru_options() { return std::make_unique<FedLoruOptions>(); }

FedLoRU::FedLoRU(const LoraOptions& low_rank, const FedLoruOptions& accumulation, uint64_t seed, int pairs)
    : seed_(seed) {
  accumulation_.accumulate_every = accumulation.accumulate_every;
  accumulation_.accumulate_rounds = accumulation.accumulate_rounds;
  spec_.rank = low_rank.rank;
  spec_.alpha = low_rank.alpha;
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
  const FedLoruOptions& a = accumulation_;
  if (a.accumulate_every > 0 && r1 % a.accumulate_every == 0) return true;
  return std::find(a.accumulate_rounds.begin(), a.accumulate_rounds.end(), r1) != a.accumulate_rounds.end();
}

int64_t FedLoRU::catch_up_numel(const Tensors& global) const {
  int64_t n = Algorithm::catch_up_numel(global);
  if (accumulation_.accumulate_every > 0 || !accumulation_.accumulate_rounds.empty())
    for (const Slots& s : slots_) n += s.layer->base().numel();
  return n;
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

std::unique_ptr<Algorithm> make_fedloru(const Options& o, uint64_t seed) {
  return std::make_unique<FedLoRU>(o.get<LoraOptions>(), o.get<FedLoruOptions>(), seed);
}

}  // namespace flb::algo
