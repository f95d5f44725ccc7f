#include "flb/hf/llama_model.h"

#include "flb/hf/config_json.h"
#include "flb/hf/llama_checkpoint.h"
#include "flb/hf/safetensors.h"

namespace flb::hf {

std::shared_ptr<model::Llama> load_llama(const std::string& dir, const model::LowRankSpec* lora,
                                         const std::vector<std::string>& lora_targets, torch::Dtype base_dtype) {
  const model::LlamaConfig config = read_llama_config(dir + "/config.json");
  const SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::open(dir);
  check_checkpoint_matches(config, checkpoint);
  auto llama = std::make_shared<model::Llama>(config, lora, lora_targets);
  if (base_dtype != torch::kFloat32) llama->set_base_dtype(base_dtype);
  model::load_llama_weights(*llama, [&](const std::string& name) {
    return checkpoint.has(name) ? checkpoint.tensor(name) : torch::Tensor();
  });
  return llama;
}

}  // namespace flb::hf
