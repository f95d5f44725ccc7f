// Adapter and merged-model export (hf/peft_export.h): the merged model is
// base + s U0 D0 (computed here in float64), loads back through
// hf::load_llama and computes the LoRA model's function; the adapter file
// holds D0 as lora_A and U0 as lora_B under PEFT's names.
#include "flb/hf/peft_export.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "flb/core/error.h"
#include "flb/hf/llama_model.h"
#include "flb/hf/safetensors.h"

namespace flb::hf {
namespace {

namespace fs = std::filesystem;

model::LlamaConfig tiny() {
  model::LlamaConfig c;
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.max_position_embeddings = 16;
  return c;
}

std::string scratch(const std::string& name) {
  const std::string d = ::testing::TempDir() + "flb_peft_" + std::to_string(getpid()) + "_" + name;
  fs::remove_all(d);
  return d;
}

// A LoRA model whose U factors are not zero (as after training).
std::shared_ptr<model::Llama> trained_lora(model::LowRankSpec& spec) {
  torch::manual_seed(7);
  spec.rank = 2;
  spec.alpha = 6;
  auto m = std::make_shared<model::Llama>(tiny(), &spec, model::parse_llama_lora_targets("q_proj,v_proj,down_proj"));
  torch::NoGradGuard no_grad;
  for (auto* l : model::low_rank_layers(*m)) l->up(0).normal_(0, 0.5);
  return m;
}

TEST(PeftExport, MergedModelIsBasePlusScaledUpDownAndComputesTheLoraFunction) {
  model::LowRankSpec spec;
  auto lora = trained_lora(spec);
  const std::string dir = scratch("merged");
  write_merged_llama(dir, *lora);
  const SafetensorsCheckpoint file = SafetensorsCheckpoint::open(dir);
  double worst_weight = 0;
  int merged = 0;
  for (const auto& m : lora->named_modules("", false)) {
    auto* l = dynamic_cast<model::LowRankLayer*>(m.value().get());
    if (!l) continue;
    const auto want = l->base().to(torch::kFloat64) +
                      (6.0 / 2.0) * torch::mm(l->up(0).to(torch::kFloat64), l->down(0).to(torch::kFloat64));
    const auto got = file.tensor(m.key() + ".weight").to(torch::kFloat64);
    worst_weight = std::max(worst_weight, (got - want).abs().max().item<double>());
    ++merged;
  }
  EXPECT_EQ(merged, 6);  // 3 projections x 2 layers
  const auto dense = load_llama(dir, nullptr, {});
  torch::NoGradGuard no_grad;
  const auto idx = torch::randint(0, 13, {2, 6});
  const auto lora_logits = lora->forward(idx);
  const double worst_logit = (dense->forward(idx) - lora_logits).abs().max().item<double>();
  std::printf("merged W vs W + s U D (float64): max |diff| = %.3g (tolerance 1e-6); logits merged vs LoRA: %.3g "
              "(tolerance 1e-5 x %.3g)\n",
              worst_weight, worst_logit, lora_logits.abs().max().item<double>());
  EXPECT_LT(worst_weight, 1e-6);
  EXPECT_LT(worst_logit, 1e-5 * lora_logits.abs().max().item<double>());
}

TEST(PeftExport, AdapterHoldsDownAsLoraAAndUpAsLoraBUnderPeftNames) {
  model::LowRankSpec spec;
  auto lora = trained_lora(spec);
  const std::string dir = scratch("adapter");
  write_peft_adapter(dir, *lora, {"/models/tiny", 0.05});
  const SafetensorsCheckpoint file = SafetensorsCheckpoint::open(dir + "/adapter_model.safetensors");
  EXPECT_EQ(file.names().size(), 12u);
  int64_t differing = 0;
  for (const auto& m : lora->named_modules("", false)) {
    auto* l = dynamic_cast<model::LowRankLayer*>(m.value().get());
    if (!l) continue;
    const std::string p = "base_model.model." + m.key();
    differing += file.tensor(p + ".lora_A.weight").ne(l->down(0)).sum().item<int64_t>();
    differing += file.tensor(p + ".lora_B.weight").ne(l->up(0)).sum().item<int64_t>();
  }
  std::printf("adapter factors: %lld values differ (tolerance 0)\n", static_cast<long long>(differing));
  EXPECT_EQ(differing, 0);
  std::ifstream in(dir + "/adapter_config.json");
  const auto config = nlohmann::json::parse(in);
  EXPECT_EQ(config.at("peft_type"), "LORA");
  EXPECT_EQ(config.at("r"), 2);
  EXPECT_DOUBLE_EQ(config.at("lora_alpha").get<double>(), 6.0);
  EXPECT_EQ(config.at("target_modules"), nlohmann::json({"down_proj", "q_proj", "v_proj"}));
  EXPECT_EQ(config.at("base_model_name_or_path"), "/models/tiny");
}

// Written, then read back onto the base model: the LoRA model's function.
TEST(PeftExport, AnExportedAdapterLoadsBackOntoItsBase) {
  model::LowRankSpec spec;
  auto lora = trained_lora(spec);
  const std::string base = scratch("base"), adapter = scratch("adapter2");
  // The base: the LoRA model's frozen weights alone (U = 0 merges nothing).
  auto zero_up = trained_lora(spec);
  for (auto* l : model::low_rank_layers(*zero_up)) l->up(0).detach().zero_();
  write_merged_llama(base, *zero_up);
  write_peft_adapter(adapter, *lora, {base, 0});
  const auto loaded = load_llama_with_adapter(base, adapter);
  torch::NoGradGuard no_grad;
  const auto idx = torch::randint(0, 13, {2, 6});
  const double diff = (loaded->forward(idx) - lora->forward(idx)).abs().max().item<double>();
  std::printf("base + adapter vs the trained LoRA model: max |diff| = %.3g (tolerance 1e-6)\n", diff);
  EXPECT_LT(diff, 1e-6);
  fs::remove(adapter + "/adapter_model.safetensors");
  EXPECT_THROW(load_llama_with_adapter(base, adapter), Error);
}

TEST(PeftExport, ADenseModelHasNoAdapterToExport) {
  model::Llama dense(tiny(), nullptr, {});
  EXPECT_THROW(write_peft_adapter(scratch("none"), dense, {}), Error);
}

}  // namespace
}  // namespace flb::hf
