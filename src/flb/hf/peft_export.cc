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
#include "flb/hf/llama_model.h"
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

namespace {

// adapter_config.json's LoRA shape: rank, alpha and target modules.
struct AdapterConfig {
  model::LowRankSpec spec;
  std::vector<std::string> targets;
};

AdapterConfig read_adapter_config(const std::string& path) {
  std::ifstream in(path);
  require(in.good(), path + ": cannot open (an adapter directory holds adapter_config.json and adapter_model.safetensors)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path + ": not JSON (" + std::string(e.what()).substr(0, 160) + ")");
  }
  auto field = [&](const char* name) -> const nlohmann::json& {
    require(j.contains(name), path + ": " + name + ": missing");
    return j.at(name);
  };
  require(field("peft_type") == "LORA", path + ": peft_type: only LORA adapters are supported");
  require(!j.value("use_rslora", false), path + ": use_rslora: rank-stabilised LoRA is not supported");
  require(!j.value("use_dora", false), path + ": use_dora: DoRA is not supported");
  require(j.value("bias", std::string("none")) == "none", path + ": bias: only \"none\" is supported");
  require(!j.contains("modules_to_save") || j.at("modules_to_save").is_null(),
          path + ": modules_to_save: not supported (the adapter must hold LoRA factors only)");
  require(field("r").is_number_integer() && field("lora_alpha").is_number(), path + ": r and lora_alpha must be numbers");
  AdapterConfig c;
  c.spec.rank = field("r").get<int64_t>();
  c.spec.alpha = field("lora_alpha").get<double>();
  require(field("target_modules").is_array(), path + ": target_modules: must be a list of module names");
  std::string targets;
  for (const auto& t : field("target_modules")) targets += (targets.empty() ? "" : ",") + t.get<std::string>();
  c.targets = model::parse_llama_lora_targets(targets);
  return c;
}

}  // namespace

std::shared_ptr<model::Llama> load_llama_with_adapter(const std::string& base_dir, const std::string& adapter_dir) {
  const AdapterConfig config = read_adapter_config(adapter_dir + "/adapter_config.json");
  auto llama = load_llama(base_dir, &config.spec, config.targets);
  const SafetensorsCheckpoint file = SafetensorsCheckpoint::open(adapter_dir + "/adapter_model.safetensors");
  torch::NoGradGuard no_grad;
  for (const NamedLoraLayer& l : lora_layers(*llama)) {
    const std::string prefix = "base_model.model." + l.name;
    for (const auto& [suffix, target] : {std::pair<const char*, torch::Tensor*>{".lora_A.weight", &l.layer->down(0)},
                                         {".lora_B.weight", &l.layer->up(0)}}) {
      const std::string name = prefix + suffix;
      require(file.has(name), file.path() + ": tensor '" + name + "' is missing (adapter_config.json targets it)");
      const torch::Tensor value = file.tensor(name);
      require(value.sizes() == target->sizes(), file.path() + ": tensor '" + name + "': shape " +
                                                    shape_text(value.sizes().vec()) + ", the model needs " +
                                                    shape_text(target->sizes().vec()));
      target->copy_(value.to(torch::kFloat32));
    }
  }
  return llama;
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
