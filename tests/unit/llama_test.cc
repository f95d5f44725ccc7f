// The Llama-family decoder against an independent float64 reference
// (tests/model/llama_reference.py, run by ctest's model.llama_reference,
// which sets FLB_LLAMA_FIXTURE), and its pieces against closed forms.
#include "flb/model/llama.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "flb/core/error.h"
#include "flb/hf/llama_model.h"

namespace flb::model {
namespace {

namespace fs = std::filesystem;

LlamaConfig read_case_config(const fs::path& file) {
  std::map<std::string, std::string> kv;
  std::ifstream in(file);
  for (std::string k, v; in >> k >> v;) kv[k] = v == "-" ? "" : v;
  auto i = [&](const char* k) { return std::stoll(kv.at(k)); };
  auto d = [&](const char* k) { return std::stod(kv.at(k)); };
  LlamaConfig c;
  c.architecture = kv.at("architecture");
  c.model_type = kv.at("model_type");
  c.vocab_size = i("vocab_size");
  c.hidden_size = i("hidden_size");
  c.intermediate_size = i("intermediate_size");
  c.num_hidden_layers = i("num_hidden_layers");
  c.num_attention_heads = i("num_attention_heads");
  c.num_key_value_heads = i("num_key_value_heads");
  c.head_dim = i("head_dim");
  c.max_position_embeddings = i("max_position_embeddings");
  c.rms_norm_eps = d("rms_norm_eps");
  c.rope_theta = d("rope_theta");
  c.rope_scaling.type = kv.at("rope_type");
  if (c.rope_scaling.type == "llama3") {
    c.rope_scaling.factor = d("rope_factor");
    c.rope_scaling.low_freq_factor = d("rope_low_freq_factor");
    c.rope_scaling.high_freq_factor = d("rope_high_freq_factor");
    c.rope_scaling.original_max_position_embeddings = i("rope_original_max_position_embeddings");
  }
  c.tie_word_embeddings = i("tie_word_embeddings") != 0;
  c.qkv_bias = i("qkv_bias") != 0;
  c.o_bias = i("o_bias") != 0;
  c.mlp_bias = i("mlp_bias") != 0;
  return c;
}

std::map<std::string, torch::Tensor> read_case_weights(const fs::path& dir) {
  std::ifstream bin(dir / "weights.bin", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(bin)), std::istreambuf_iterator<char>());
  const torch::Tensor all = torch::from_blob(bytes.data(), {static_cast<int64_t>(bytes.size() / 4)}, torch::kFloat32).clone();
  std::map<std::string, torch::Tensor> w;
  std::ifstream index(dir / "weights.txt");
  for (std::string line; std::getline(index, line);) {
    std::istringstream ss(line);
    std::string name;
    int64_t offset = 0, numel = 1;
    ss >> name >> offset;
    std::vector<int64_t> shape;
    for (int64_t s; ss >> s;) shape.push_back(s), numel *= s;
    w[name] = all.narrow(0, offset, numel).view(shape);
  }
  return w;
}

torch::Tensor read_case_idx(const fs::path& file) {
  std::ifstream in(file);
  int64_t B = 0, T = 0;
  in >> B >> T;
  torch::Tensor idx = torch::empty({B, T}, torch::kInt64);
  for (int64_t i = 0; i < B * T; ++i) in >> idx.data_ptr<int64_t>()[i];
  return idx;
}

TEST(LlamaReference, LogitsMatchAnIndependentFloat64Decoder) {
  const char* root = std::getenv("FLB_LLAMA_FIXTURE");
  if (!root) GTEST_SKIP() << "run through ctest (model.llama_reference), which makes the fixture";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  int cases = 0;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path dir = entry.path();
    const LlamaConfig c = read_case_config(dir / "config.txt");
    auto weights = read_case_weights(dir);
    Llama model(c, nullptr, {});
    load_llama_weights(model, [&](const std::string& name) { return weights.count(name) ? weights[name] : torch::Tensor(); });
    // The same model through the user's path: the Hugging Face directory.
    const auto from_hf = hf::load_llama((dir / "hf").string(), nullptr, {});
    torch::NoGradGuard no_grad;
    const torch::Tensor idx = read_case_idx(dir / "idx.txt");
    const torch::Tensor logits = model.forward(idx).to(torch::kFloat64);
    std::ifstream ref_in(dir / "logits.bin", std::ios::binary);
    std::vector<double> ref(static_cast<size_t>(logits.numel()));
    ref_in.read(reinterpret_cast<char*>(ref.data()), static_cast<std::streamsize>(ref.size() * 8));
    ASSERT_TRUE(ref_in.good()) << dir;
    const torch::Tensor want = torch::from_blob(ref.data(), logits.sizes(), torch::kFloat64);
    const double scale = want.abs().max().item<double>();
    const double diff = (logits - want).abs().max().item<double>();
    const double hf_diff = (from_hf->forward(idx).to(torch::kFloat64) - want).abs().max().item<double>();
    std::printf("%s: max |flbench - reference| = %.3g, from the HF directory %.3g (logits up to %.3g; "
                "tolerance 1e-5 x max |logit|)\n",
                dir.filename().c_str(), diff, hf_diff, scale);
    EXPECT_LT(diff, 1e-5 * scale) << dir;
    EXPECT_LT(hf_diff, 1e-5 * scale) << dir;
    ++cases;
  }
  EXPECT_EQ(cases, 3);
}

LlamaConfig tiny(bool tied = false) {
  LlamaConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 4;
  c.max_position_embeddings = 16;
  c.tie_word_embeddings = tied;
  return c;
}

TEST(Llama, ParametersCarryTheCheckpointsNames) {
  Llama model(tiny(), nullptr, {});
  std::set<std::string> names;
  for (const auto& p : model.named_parameters()) names.insert(checkpoint_name(p.key()));
  std::set<std::string> want = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  for (int i = 0; i < 2; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"}) want.insert(p + "self_attn." + n + ".weight");
    for (const char* n : {"gate_proj", "up_proj", "down_proj"}) want.insert(p + "mlp." + n + ".weight");
    want.insert(p + "input_layernorm.weight");
    want.insert(p + "post_attention_layernorm.weight");
  }
  EXPECT_EQ(names, want);
  Llama tied(tiny(true), nullptr, {});
  EXPECT_EQ(tied.named_parameters().find("lm_head.W"), nullptr);
}

// With B = 0 a LoRA model computes the dense model's function, and its
// factors have no checkpoint name.
TEST(Llama, LoraModelWithZeroUpEqualsTheDenseModel) {
  torch::manual_seed(1);
  Llama dense(tiny(), nullptr, {});
  LowRankSpec spec;
  spec.rank = 2;
  Llama lora(tiny(), &spec, parse_llama_lora_targets("q_proj,v_proj,down_proj"));
  std::map<std::string, torch::Tensor> w;
  for (const auto& p : dense.named_parameters()) w[checkpoint_name(p.key())] = p.value();
  load_llama_weights(lora, [&](const std::string& n) { return w.count(n) ? w[n] : torch::Tensor(); });
  int factors = 0;
  for (const auto& p : lora.named_parameters()) factors += checkpoint_name(p.key()).empty();
  EXPECT_EQ(factors, 2 * 3 * 2);  // U0 and D0 of 3 projections in 2 layers
  torch::NoGradGuard no_grad;
  const auto idx = torch::randint(0, 11, {2, 5});
  const double diff = (dense.forward(idx) - lora.forward(idx)).abs().max().item<double>();
  std::printf("max |dense - lora(B=0)| = %.3g (tolerance 1e-6)\n", diff);
  EXPECT_LT(diff, 1e-6);
  EXPECT_THROW(parse_llama_lora_targets("q"), Error);
}

// Meta's apply_scaling, one band at a time, in double.
TEST(Llama, RopeFrequenciesFollowLlama3ScalingInEveryBand) {
  LlamaConfig c = tiny();
  c.head_dim = 16;
  c.rope_theta = 500000;
  c.rope_scaling = {"llama3", 8.0, 1.0, 8.0, 64};
  const torch::Tensor got = rope_inv_freq(c);
  double worst = 0;
  std::set<int> bands;
  for (int i = 0; i < 8; ++i) {
    const double f = std::pow(500000.0, -2.0 * i / 16), wavelen = 2 * M_PI / f;
    double want = f;
    if (wavelen < 64.0 / 8.0) {
      bands.insert(0);
    } else if (wavelen > 64.0 / 1.0) {
      want = f / 8, bands.insert(2);
    } else {
      const double smooth = (64.0 / wavelen - 1.0) / (8.0 - 1.0);
      want = (1 - smooth) * f / 8 + smooth * f, bands.insert(1);
    }
    worst = std::max(worst, std::abs(got[i].item<double>() - want) / want);
  }
  std::printf("max relative |flbench - closed form| = %.3g (tolerance 1e-6)\n", worst);
  EXPECT_LT(worst, 1e-6);
  EXPECT_EQ(bands.size(), 3u);  // every branch exercised
}

TEST(Llama, ConfigErrorsNameTheField) {
  auto message = [](LlamaConfig c) {
    try {
      check_llama_config(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  LlamaConfig c = tiny();
  c.num_attention_heads = 3;
  c.num_key_value_heads = 2;
  EXPECT_NE(message(c).find("num_key_value_heads"), std::string::npos);
  c = tiny();
  c.head_dim = 5;
  EXPECT_NE(message(c).find("head_dim"), std::string::npos);
  c = tiny();
  c.rope_scaling.type = "yarn";
  EXPECT_NE(message(c).find("yarn"), std::string::npos);
  c = tiny();
  c.vocab_size = 0;
  EXPECT_NE(message(c).find("vocab_size"), std::string::npos);
  EXPECT_EQ(message(tiny()), "accepted");
}

TEST(Llama, LoadNamesAMissingOrMisshapenTensor) {
  Llama model(tiny(), nullptr, {});
  try {
    load_llama_weights(model, [](const std::string&) { return torch::Tensor(); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.embed_tokens.weight"), std::string::npos) << e.what();
  }
  try {
    load_llama_weights(model, [](const std::string&) { return torch::zeros({3}); });
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flb::model
