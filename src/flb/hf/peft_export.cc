#include "flb/hf/peft_export.h"

#include <torch/nn/module.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "flb/core/error.h"
#include "flb/hf/config_json.h"
#include "flb/hf/safetensors.h"

namespace flb::hf {
namespace {

struct NamedLoraLayer {
  std::string name;  // the module path, e.g. model.layers.0.self_attn.q_proj
  model::LowRankLayer* layer;
};

std::vector<NamedLoraLayer> lora_layers(model::Llama& model) {
  std::vector<NamedLoraLayer> out;
  for (const auto& m : model.named_modules("", /*include_self=*/false))
    if (auto* l = dynamic_cast<model::LowRankLayer*>(m.value().get())) out.push_back({m.key(), l});
  return out;
}

void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  require(!ec, dir + ": cannot create the output directory (" + ec.message() + ")");
}

// The last name of a module path: the PEFT target module ("q_proj").
std::string leaf(const std::string& path) { return path.substr(path.rfind('.') + 1); }

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    require(out.good(), path + ": cannot write (" + std::strerror(errno) + ")");
  }
  require(std::rename(tmp.c_str(), path.c_str()) == 0, path + ": cannot write (" + std::strerror(errno) + ")");
}

}  // namespace

void write_peft_adapter(const std::string& dir, model::Llama& model, const AdapterInfo& info) {
  const std::vector<NamedLoraLayer> layers = lora_layers(model);
  require(!layers.empty(), "adapter export: the model has no LoRA layer (train with a LoRA-family algorithm)");
  make_dir(dir);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  std::set<std::string> targets;
  for (const NamedLoraLayer& l : layers) {
    tensors.push_back({"base_model.model." + l.name + ".lora_A.weight", l.layer->down(0).detach()});
    tensors.push_back({"base_model.model." + l.name + ".lora_B.weight", l.layer->up(0).detach()});
    targets.insert(leaf(l.name));
  }
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  const int64_t r = layers[0].layer->rank();
  nlohmann::ordered_json config = {
      {"peft_type", "LORA"},
      {"task_type", "CAUSAL_LM"},
      {"base_model_name_or_path", info.base_model},
      {"r", r},
      {"lora_alpha", layers[0].layer->scale() * static_cast<double>(r)},
      {"lora_dropout", info.lora_dropout},
      {"target_modules", std::vector<std::string>(targets.begin(), targets.end())},
      {"bias", "none"},
      {"fan_in_fan_out", false},
      {"inference_mode", true},
      {"use_rslora", false},
      {"modules_to_save", nullptr},
  };
  write_text_atomically(dir + "/adapter_config.json", config.dump(2) + "\n");
}

void write_merged_llama(const std::string& dir, model::Llama& model) {
  torch::NoGradGuard no_grad;
  make_dir(dir);
  std::map<const torch::Tensor*, torch::Tensor> merged;  // a LoRA layer's W -> W + s U0 D0
  for (const NamedLoraLayer& l : lora_layers(model)) merged[&l.layer->base()] = l.layer->base() + l.layer->delta(0);
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (auto& p : model.named_parameters()) {
    const std::string name = model::checkpoint_name(p.key());
    if (name.empty()) continue;  // a LoRA factor
    torch::Tensor value = p.value().detach();
    for (const auto& [base, sum] : merged)
      if (base->is_same(p.value())) value = sum;
    tensors.push_back({name, value.to(torch::kCPU, torch::kFloat32).contiguous()});
  }
  model::LlamaConfig config = model.config();
  config.torch_dtype = "float32";
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_llama_config(dir + "/config.json", config);
}

}  // namespace flb::hf
