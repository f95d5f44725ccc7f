// FedLoRU (Park et al.): every factorised layer computes W x + s U D x;
// clients train the factors U, D and every non-factorised parameter; the
// server takes the sample-weighted mean of each trained tensor, factors
// separately; on accumulation rounds every rank merges W += s U D and
// restarts the factors (D Kaiming-uniform, U = 0), so the model function
// is unchanged by the merge and the model's rank grows over the run.
//
// pFedLoRU and mFedLoRU (pfedloru.cc, mfedloru.cc) extend this class.
// FedLoRU and mFedLoRU keep nothing between rounds beyond the model (W,
// changed by merges, is a model parameter and checkpointed with it), so
// they keep Algorithm's empty save_state/load_state.
#pragma once

#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/algo/lora.h"
#include "flb/algo/options.h"

namespace flb::algo {

// The FedLoRU family's accumulation options (fedloru.cc owns them).
struct FedLoruOptions : OptionGroup {
  int64_t accumulate_every = 0;            // --accumulate-every: merge s U D into W every T rounds (0: never)
  std::vector<int64_t> accumulate_rounds;  // --accumulate-rounds: merge after these 1-based rounds
  void add_options(CLI::App& app) override;
  void validate(const Options& all) const override;
};

class FedLoRU : public Algorithm {
 public:
  // Reads rank and alpha of `low_rank` (not its aggregation weights: FedLoRU weighs by samples).
  FedLoRU(const LoraOptions& low_rank, const FedLoruOptions& accumulation, uint64_t seed, int pairs = 1);
  const model::LowRankSpec* model_spec() const override { return &spec_; }
  Tensors trainable(torch::nn::Module& model) override;
  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override;
  // Every uploaded tensor exactly once, dense; private factors never.
  compress::WireSchema upload_schema(const Tensors& tensors) const override;
  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override;
  void apply_download(int64_t round, Tensors& global, const compress::Payload& download) override;
  // With merges on, also every factorised layer's W, which they change.
  int64_t catch_up_numel(const Tensors& global) const override;

  // True when the factors are merged into W after 0-based `round`.
  bool merges_after(int64_t round) const;

 protected:
  // Where a factorised layer's factors sit in the tensor list.
  struct Slots {
    model::LowRankLayer* layer;
    std::vector<size_t> up, down;  // by pair
  };
  // W += s U_0 D_0 with the global factors, then D_0, U_0 restart (in `global` too).
  void merge(int64_t round, Tensors& global);

  model::LowRankSpec spec_;
  FedLoruOptions accumulation_;
  uint64_t seed_;
  std::vector<Slots> slots_;
  std::vector<bool> uploaded_;  // tensors a client sends (all but private factors)
};

}  // namespace flb::algo
