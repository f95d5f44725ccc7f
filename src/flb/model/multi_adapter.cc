#include "flb/model/multi_adapter.h"

#include <string>

#include "flb/core/error.h"

namespace flb::model {

MultiAdapterBinding::MultiAdapterBinding(torch::nn::Module& model, const std::vector<torch::Tensor>& trained) {
  std::vector<bool> found(trained.size(), false);
  for (LowRankLayer* layer : low_rank_layers(model)) {
    Slot slot{layer};
    for (size_t i = 0; i < trained.size(); ++i) {
      if (trained[i].is_same(layer->up(0))) slot.up = static_cast<int64_t>(i);
      if (trained[i].is_same(layer->down(0))) slot.down = static_cast<int64_t>(i);
    }
    if (slot.up < 0 && slot.down < 0) continue;
    require(layer->pairs() == 1 && layer->base().dim() == 2,
            "--client-batch: multi-adapter batching is built for one-pair linear LoRA layers; this model has a low-rank "
            "convolution or a second pair: use --client-batch 1");
    if (slot.up >= 0) found[static_cast<size_t>(slot.up)] = true;
    if (slot.down >= 0) found[static_cast<size_t>(slot.down)] = true;
    slots_.push_back(slot);
  }
  for (size_t i = 0; i < trained.size(); ++i)
    require(found[i], "--client-batch: trained tensor " + std::to_string(i) +
                          " is not a LoRA factor (multi-adapter batching trains only the adapters): use --client-batch 1");
}

void MultiAdapterBinding::bind(const std::vector<torch::Tensor>& stacked) {
  const auto pick = [&](int64_t i) { return i < 0 ? torch::Tensor() : stacked.at(static_cast<size_t>(i)); };
  for (const Slot& s : slots_) s.layer->set_client_factors(pick(s.up), pick(s.down));
}

void MultiAdapterBinding::unbind() {
  for (const Slot& s : slots_) s.layer->set_client_factors(torch::Tensor(), torch::Tensor());
}

}  // namespace flb::model
