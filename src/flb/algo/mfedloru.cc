// mFedLoRU: clients of different capacity train nested low-rank updates.
// Client c has rank r_c = client_lora_ranks[c % size] <= r (--client-lora-ranks): it uses and trains
// only the leading r_c components (columns of U, rows of D); the rest of U
// is held at zero during its local steps. It uploads the leading part of U
// and D (sparse parts) and its other parameters in full; the server
// averages each element over the clients that sent it (sample weights
// renormalised per element), so the leading components, which every
// client trains, get the most data: a hierarchical low-rank model.
#include "flb/algo/fedavg.h"
#include "flb/algo/fedloru.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

struct MFedLoruOptions : OptionGroup {
  std::vector<int64_t> client_lora_ranks;  // --client-lora-ranks: client c trains client_lora_ranks[c % size]

  void add_options(CLI::App& app) override {
    app.add_option("--client-lora-ranks", client_lora_ranks,
                   "mfedloru: nested LoRA ranks by capacity; client c trains rank list[c % len] (default r/4,r/2,r)")
        ->delimiter(',')->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)->group(kOptionsHelpGroup);
  }
  void validate(const Options& all) const override {
    const int64_t r = all.get<LoraOptions>().rank;
    for (int64_t rc : client_lora_ranks)
      require(rc >= 1 && rc <= r, "--client-lora-ranks: every rank must be in [1, --lora-rank]");
  }
};

class MFedLoRU : public FedLoRU {
 public:
  MFedLoRU(const LoraOptions& c, const FedLoruOptions& a, const MFedLoruOptions& m, uint64_t seed)
      : FedLoRU(c, a, seed), ranks_(m.client_lora_ranks) {
    if (ranks_.empty()) ranks_ = {std::max<int64_t>(1, c.rank / 4), std::max<int64_t>(1, c.rank / 2), c.rank};
  }

  int64_t rank_of(int64_t client) const { return ranks_[static_cast<size_t>(client) % ranks_.size()]; }

  void load_client(const ClientContext& ctx, Tensors& params) override { after_step(ctx, params); }

  // The factors U_0, D_0 as sparse parts (the client's leading components),
  // every other tensor dense; each exactly once.
  compress::WireSchema upload_schema(const Tensors& tensors) const override {
    compress::WireSchema s = compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kDenseOnly);
    for (const Slots& slot : slots_) s.tensors.at(slot.up[0]).kinds = s.tensors.at(slot.down[0]).kinds = compress::kSparseOnly;
    return s;
  }

  // Components past the client's rank stay zero: U[:, r_c:] = 0.
  void after_step(const ClientContext& ctx, Tensors& params) override {
    const int64_t rc = rank_of(ctx.client);
    if (rc >= spec_.rank) return;
    torch::NoGradGuard no_grad;
    for (const Slots& s : slots_) params[s.up[0]].narrow(1, rc, spec_.rank - rc).zero_();
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    const int64_t rc = rank_of(ctx.client);
    compress::Payload p;
    p.algorithm = wire_id();
    p.client = static_cast<uint32_t>(ctx.client);
    for (size_t i = 0; i < local.size(); ++i) {
      const torch::Tensor delta = local[i] - global[i];
      const torch::Tensor mask = leading_mask(i, rc, delta);
      if (!mask.defined()) {
        p.parts.push_back(dense_part(static_cast<uint32_t>(i), delta));
      } else {
        const auto idx = mask.reshape({-1}).nonzero().reshape({-1});
        p.parts.push_back(sparse_part(static_cast<uint32_t>(i), static_cast<uint64_t>(delta.numel()), idx,
                                      delta.reshape({-1}).index_select(0, idx)));
      }
    }
    return p;
  }

  // Per element: sum_i w_i delta_i / sum_i w_i over the clients that sent it.
  compress::Payload aggregate(int64_t, const std::vector<Upload>& uploads, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    const std::vector<float> w = sample_weights(uploads);
    Tensors sum, weight;
    for (const auto& g : global) {
      sum.push_back(torch::zeros_like(g, torch::kFloat32));
      weight.push_back(torch::zeros_like(g, torch::kFloat32));
    }
    for (size_t k = 0; k < uploads.size(); ++k) {
      for (const compress::Part& part : uploads[k].payload.parts) {  // the schema: each tensor once, dense or sparse
        add_part(sum.at(part.tensor), part, w[k]);
        compress::Part ones = part;
        ones.values = torch::ones_like(part.values);
        add_part(weight[part.tensor], ones, w[k]);
      }
    }
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = torch::where(weight[i] > 0, sum[i] / weight[i], torch::zeros_like(sum[i]));
    return dense_broadcast(wire_id(), sum);
  }

 private:
  // For a factor tensor: true on the client's leading components; undefined for other tensors.
  torch::Tensor leading_mask(size_t i, int64_t rc, const torch::Tensor& like) const {
    for (const Slots& s : slots_) {
      if (s.up[0] == i) {
        auto m = torch::zeros(like.sizes(), torch::kBool);
        m.narrow(1, 0, rc).fill_(true);  // U (out, r[, 1, 1]): columns
        return m;
      }
      if (s.down[0] == i) {
        auto m = torch::zeros(like.sizes(), torch::kBool);
        m.narrow(0, 0, rc).fill_(true);  // D (r, in[, k, k]): rows
        return m;
      }
    }
    return {};
  }
  std::vector<int64_t> ranks_;
};

}  // namespace

std::unique_ptr<OptionGroup> mfedloru_options() { return std::make_unique<MFedLoruOptions>(); }

std::unique_ptr<Algorithm> make_mfedloru(const Options& o, uint64_t seed) {
  return std::make_unique<MFedLoRU>(o.get<LoraOptions>(), o.get<FedLoruOptions>(), o.get<MFedLoruOptions>(), seed);
}

}  // namespace flb::algo
