// pFedLoRU: every factorised layer has a global pair (U_0, D_0), shared and
// averaged as in FedLoRU, and a private pair (U_1, D_1) that each client
// trains and keeps: it stays on the client's rank and is never uploaded.
// A client's first round starts its private pair at U_1 = 0 (no effect on
// the function) and D_1 at the shared initial value. Accumulation merges
// the global pair only. The evaluated global model has U_1 = 0.
#include <map>

#include "flb/algo/fedloru.h"
#include "flb/algo/state_archive.h"

namespace flb::algo {
namespace {

class PFedLoRU : public FedLoRU {
 public:
  PFedLoRU(const LoraOptions& c, const FedLoruOptions& a, uint64_t seed) : FedLoRU(c, a, seed, /*pairs=*/2) {}

  Tensors trainable(torch::nn::Module& model) override {
    Tensors params = FedLoRU::trainable(model);
    torch::NoGradGuard no_grad;
    for (const Slots& s : slots_) {
      params[s.up[1]].zero_();
      uploaded_[s.up[1]] = uploaded_[s.down[1]] = false;
    }
    return params;
  }

  bool personalises() const override { return true; }

  void load_client(const ClientContext& ctx, Tensors& params) override {
    const auto it = private_.find(ctx.client);
    if (it == private_.end()) return;  // first round: the global initial values
    torch::NoGradGuard no_grad;
    size_t k = 0;
    for (const Slots& s : slots_) {
      params[s.up[1]].copy_(it->second[k++]);
      params[s.down[1]].copy_(it->second[k++]);
    }
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    Tensors& mine = private_[ctx.client];
    mine.clear();
    for (const Slots& s : slots_) {
      mine.push_back(local[s.up[1]].detach().clone());
      mine.push_back(local[s.down[1]].detach().clone());
    }
    return FedLoRU::encode_upload(ctx, global, local);  // sends only uploaded_ tensors
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    write_client_tensors(archive, "pfedloru_private", private_);
  }
  void load_state(torch::serialize::InputArchive& archive) override {
    private_ = read_client_tensors(archive, "pfedloru_private");
  }

  int64_t client_state_bytes() const override {
    return tensor_bytes(private_);
  }
  int64_t client_state_bytes_bound(const Tensors& trained) const override {
    int64_t n = 0;  // the private pair of every layer
    for (const Slots& s : slots_) n += tensor_bytes(Tensors{trained[s.up[1]], trained[s.down[1]]});
    return n;
  }

 private:
  ClientTensors private_;  // this rank's clients: U_1, D_1 of every layer
};

}  // namespace

std::unique_ptr<Algorithm> make_pfedloru(const Options& o, uint64_t seed) {
  return std::make_unique<PFedLoRU>(o.get<LoraOptions>(), o.get<FedLoruOptions>(), seed);
}

}  // namespace flb::algo
