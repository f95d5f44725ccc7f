#include "flb/hf/config_json.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "flb/core/error.h"

namespace flb::hf {
namespace {

namespace fs = std::filesystem;

// The published config.json files, verbatim.
const char* kLlama32_1B = R"({
  "architectures": ["LlamaForCausalLM"],
  "attention_bias": false,
  "attention_dropout": 0.0,
  "bos_token_id": 128000,
  "eos_token_id": 128001,
  "head_dim": 64,
  "hidden_act": "silu",
  "hidden_size": 2048,
  "initializer_range": 0.02,
  "intermediate_size": 8192,
  "max_position_embeddings": 131072,
  "mlp_bias": false,
  "model_type": "llama",
  "num_attention_heads": 32,
  "num_hidden_layers": 16,
  "num_key_value_heads": 8,
  "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {
    "factor": 32.0,
    "high_freq_factor": 4.0,
    "low_freq_factor": 1.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3"
  },
  "rope_theta": 500000.0,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0",
  "use_cache": true,
  "vocab_size": 128256
})";

const char* kQwen2_05B = R"({
  "architectures": ["Qwen2ForCausalLM"],
  "attention_dropout": 0.0,
  "bos_token_id": 151643,
  "eos_token_id": 151643,
  "hidden_act": "silu",
  "hidden_size": 896,
  "initializer_range": 0.02,
  "intermediate_size": 4864,
  "max_position_embeddings": 131072,
  "max_window_layers": 24,
  "model_type": "qwen2",
  "num_attention_heads": 14,
  "num_hidden_layers": 24,
  "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "sliding_window": 131072,
  "tie_word_embeddings": true,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1",
  "use_cache": true,
  "use_sliding_window": false,
  "vocab_size": 151936
})";

const char* kMistral7B_v01 = R"({
  "architectures": ["MistralForCausalLM"],
  "bos_token_id": 1,
  "eos_token_id": 2,
  "hidden_act": "silu",
  "hidden_size": 4096,
  "initializer_range": 0.02,
  "intermediate_size": 14336,
  "max_position_embeddings": 32768,
  "model_type": "mistral",
  "num_attention_heads": 32,
  "num_hidden_layers": 32,
  "num_key_value_heads": 8,
  "rms_norm_eps": 1e-05,
  "rope_theta": 10000.0,
  "sliding_window": 4096,
  "tie_word_embeddings": false,
  "torch_dtype": "bfloat16",
  "transformers_version": "4.34.0.dev0",
  "use_cache": true,
  "vocab_size": 32000
})";

std::string write_config(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "flb_hf_" + std::to_string(getpid()) + "_" + name + ".json";
  std::ofstream(path) << text;
  return path;
}

// `text` with the line containing `"key":` replaced by `"key": value,`
// (or removed when value is empty).
std::string with_field(std::string text, const std::string& key, const std::string& value) {
  const std::string k = "\"" + key + "\":";
  const size_t at = text.find(k);
  if (at == std::string::npos) {
    return value.empty() ? text : text.insert(text.find('{') + 1, "\n  " + k + " " + value + ",");
  }
  size_t end = at;
  int depth = 0;
  for (; end < text.size(); ++end) {
    const char ch = text[end];
    if (ch == '{' || ch == '[') ++depth;
    if (ch == '}' || ch == ']') {
      if (depth == 0) break;
      --depth;
    }
    if (ch == ',' && depth == 0) {
      ++end;
      break;
    }
  }
  const std::string replacement = value.empty() ? "" : k + " " + value + (text[end - 1] == ',' ? "," : "");
  return text.replace(at, end - at, replacement);
}

void expect_config_error(const std::string& name, const std::string& text, const std::vector<std::string>& needles) {
  const std::string path = write_config(name, text);
  try {
    read_llama_config(path);
    ADD_FAILURE() << "no error for " << name;
  } catch (const Error& e) {
    std::printf("  %s\n", e.what());
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what() << " (missing: " << n << ")";
  }
  fs::remove(path);
}

TEST(HfConfigJson, Llama32_1B) {
  const model::LlamaConfig c = read_llama_config(write_config("llama", kLlama32_1B));
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.hidden_size, 2048);
  EXPECT_EQ(c.intermediate_size, 8192);
  EXPECT_EQ(c.num_hidden_layers, 16);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.max_position_embeddings, 131072);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001}));
}

TEST(HfConfigJson, Qwen2_05B) {
  const model::LlamaConfig c = read_llama_config(write_config("qwen2", kQwen2_05B));
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_EQ(c.vocab_size, 151936);
  EXPECT_EQ(c.hidden_size, 896);
  EXPECT_EQ(c.intermediate_size, 4864);
  EXPECT_EQ(c.num_hidden_layers, 24);
  EXPECT_EQ(c.num_attention_heads, 14);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 64);  // 896 / 14
  EXPECT_EQ(c.max_position_embeddings, 131072);  // use_sliding_window false
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 1e6);
  EXPECT_EQ(c.rope_scaling.type, "");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  EXPECT_EQ(c.bos_token_id, 151643);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{151643}));
}

TEST(HfConfigJson, Mistral7B_v01) {
  const model::LlamaConfig c = read_llama_config(write_config("mistral", kMistral7B_v01));
  EXPECT_EQ(c.architecture, "MistralForCausalLM");
  EXPECT_EQ(c.model_type, "mistral");
  EXPECT_EQ(c.vocab_size, 32000);
  EXPECT_EQ(c.hidden_size, 4096);
  EXPECT_EQ(c.intermediate_size, 14336);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);
  // sliding_window 4096 < 32768: full attention is exact up to the window only.
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2}));
}

TEST(HfConfigJson, Transformers5RopeParameters) {
  // transformers 5 saves Llama-3.2-1B's rotary settings as one object.
  const std::string v5 = with_field(with_field(with_field(kLlama32_1B, "rope_theta", ""), "rope_scaling", ""),
                                    "rope_parameters",
                                    R"({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                                        "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                        "original_max_position_embeddings": 8192})");
  const model::LlamaConfig a = read_llama_config(write_config("v5", v5));
  const model::LlamaConfig b = read_llama_config(write_config("v4", kLlama32_1B));
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.rope_scaling.type, "llama3");
  EXPECT_EQ(a.rope_scaling.factor, b.rope_scaling.factor);
  EXPECT_EQ(a.rope_scaling.low_freq_factor, b.rope_scaling.low_freq_factor);
  EXPECT_EQ(a.rope_scaling.high_freq_factor, b.rope_scaling.high_freq_factor);
  EXPECT_EQ(a.rope_scaling.original_max_position_embeddings, b.rope_scaling.original_max_position_embeddings);
  const model::LlamaConfig d = read_llama_config(write_config(
      "v5d", with_field(with_field(kQwen2_05B, "rope_theta", ""), "rope_parameters",
                        R"({"rope_type": "default", "rope_theta": 1000000.0})")));
  EXPECT_EQ(d.rope_theta, 1e6);
  EXPECT_EQ(d.rope_scaling.type, "");
  expect_config_error("both", with_field(kLlama32_1B, "rope_parameters", R"({"rope_type": "default"})"),
                      {"rope_parameters", "rope_scaling", "keep one"});
  expect_config_error("v5yarn", with_field(with_field(kLlama32_1B, "rope_scaling", ""), "rope_parameters",
                                           R"({"rope_type": "yarn", "factor": 4.0})"),
                      {"rope_parameters.rope_type", "yarn"});
}

TEST(HfConfigJson, DefaultsListsAndVariants) {
  // Llama-3.2-1B-Instruct's eos list; no head_dim; rope_scaling "default"; attention_bias.
  std::string t = with_field(kLlama32_1B, "eos_token_id", "[128001, 128008, 128009]");
  t = with_field(t, "head_dim", "");
  t = with_field(t, "rope_scaling", R"({"type": "default"})");
  t = with_field(t, "attention_bias", "true");
  t = with_field(t, "num_key_value_heads", "");
  t = with_field(t, "bos_token_id", "null");
  const model::LlamaConfig c = read_llama_config(write_config("variants", t));
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_EQ(c.rope_scaling.type, "");
  EXPECT_TRUE(c.qkv_bias && c.o_bias);
  EXPECT_EQ(c.bos_token_id, -1);
  // Qwen2 with a window that covers the context keeps it; a smaller one clamps.
  const model::LlamaConfig q = read_llama_config(
      write_config("qwen_sw", with_field(with_field(kQwen2_05B, "use_sliding_window", "true"), "sliding_window", "32768")));
  EXPECT_EQ(q.max_position_embeddings, 32768);
  // Newer transformers write "dtype".
  const model::LlamaConfig d =
      read_llama_config(write_config("dtype", with_field(with_field(kQwen2_05B, "torch_dtype", ""), "dtype", "\"float16\"")));
  EXPECT_EQ(d.torch_dtype, "float16");
}

TEST(HfConfigJson, UnsupportedOrMissingFieldsNameTheField) {
  expect_config_error("arch", with_field(kLlama32_1B, "architectures", R"(["GPT2LMHeadModel"])"),
                      {"architectures", "GPT2LMHeadModel", "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM"});
  expect_config_error("noarch", with_field(kLlama32_1B, "architectures", ""), {"architectures", "missing"});
  expect_config_error("type", with_field(kLlama32_1B, "model_type", "\"qwen2\""), {"model_type", "qwen2"});
  expect_config_error("act", with_field(kLlama32_1B, "hidden_act", "\"gelu\""), {"hidden_act", "gelu"});
  expect_config_error("rope", with_field(kLlama32_1B, "rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"),
                      {"rope_scaling.rope_type", "yarn"});
  expect_config_error("rope_old", with_field(kLlama32_1B, "rope_scaling", R"({"type": "linear", "factor": 4.0})"),
                      {"rope_scaling.type", "linear"});
  expect_config_error("rope_factor", with_field(kLlama32_1B, "rope_scaling", R"({"rope_type": "llama3", "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})"), {"rope_scaling.factor", "missing"});
  expect_config_error("nohidden", with_field(kLlama32_1B, "hidden_size", ""), {"hidden_size", "missing"});
  expect_config_error("strhidden", with_field(kLlama32_1B, "hidden_size", "\"2048\""), {"hidden_size", "not an integer"});
  expect_config_error("floatvocab", with_field(kLlama32_1B, "vocab_size", "128256.5"), {"vocab_size", "not an integer"});
  expect_config_error("neg", with_field(kLlama32_1B, "num_hidden_layers", "0"), {"num_hidden_layers", "positive"});
  expect_config_error("kv", with_field(kLlama32_1B, "num_key_value_heads", "5"), {"num_key_value_heads", "divide"});
  expect_config_error("tie", with_field(kLlama32_1B, "tie_word_embeddings", "1"), {"tie_word_embeddings"});
  expect_config_error("eps", with_field(kLlama32_1B, "rms_norm_eps", "\"1e-5\""), {"rms_norm_eps", "not a number"});
  expect_config_error("dtype", with_field(kLlama32_1B, "torch_dtype", "\"int8\""), {"torch_dtype", "int8"});
  expect_config_error("eos", with_field(kLlama32_1B, "eos_token_id", "[128001, \"x\"]"), {"eos_token_id"});
  expect_config_error("dropout", with_field(kLlama32_1B, "attention_dropout", "0.1"), {"attention_dropout"});
  expect_config_error("quant", with_field(kLlama32_1B, "quantization_config", R"({"quant_method": "gptq"})"),
                      {"quantization_config"});
  expect_config_error("qwen_sw", with_field(kQwen2_05B, "use_sliding_window", "\"yes\""), {"use_sliding_window"});
  expect_config_error("notjson", "{\"vocab_size\": ", {"not valid JSON"});
  expect_config_error("array", "[]", {"not a JSON object"});
}

TEST(HfConfigJson, WriteThenReadGivesTheSameConfig) {
  for (const char* text : {kLlama32_1B, kQwen2_05B, kMistral7B_v01}) {
    const model::LlamaConfig a = read_llama_config(write_config("rt_in", text));
    const std::string out = write_config("rt_out", "");
    write_llama_config(out, a);
    EXPECT_FALSE(fs::exists(out + ".tmp"));
    const model::LlamaConfig b = read_llama_config(out);
    EXPECT_EQ(b.architecture, a.architecture);
    EXPECT_EQ(b.model_type, a.model_type);
    EXPECT_EQ(b.vocab_size, a.vocab_size);
    EXPECT_EQ(b.hidden_size, a.hidden_size);
    EXPECT_EQ(b.intermediate_size, a.intermediate_size);
    EXPECT_EQ(b.num_hidden_layers, a.num_hidden_layers);
    EXPECT_EQ(b.num_attention_heads, a.num_attention_heads);
    EXPECT_EQ(b.num_key_value_heads, a.num_key_value_heads);
    EXPECT_EQ(b.head_dim, a.head_dim);
    EXPECT_EQ(b.max_position_embeddings, a.max_position_embeddings);
    EXPECT_EQ(b.rms_norm_eps, a.rms_norm_eps);
    EXPECT_EQ(b.rope_theta, a.rope_theta);
    EXPECT_EQ(b.rope_scaling.type, a.rope_scaling.type);
    EXPECT_EQ(b.rope_scaling.factor, a.rope_scaling.factor);
    EXPECT_EQ(b.rope_scaling.low_freq_factor, a.rope_scaling.low_freq_factor);
    EXPECT_EQ(b.rope_scaling.high_freq_factor, a.rope_scaling.high_freq_factor);
    EXPECT_EQ(b.rope_scaling.original_max_position_embeddings, a.rope_scaling.original_max_position_embeddings);
    EXPECT_EQ(b.tie_word_embeddings, a.tie_word_embeddings);
    EXPECT_EQ(b.qkv_bias, a.qkv_bias);
    EXPECT_EQ(b.o_bias, a.o_bias);
    EXPECT_EQ(b.mlp_bias, a.mlp_bias);
    EXPECT_EQ(b.torch_dtype, a.torch_dtype);
    EXPECT_EQ(b.bos_token_id, a.bos_token_id);
    EXPECT_EQ(b.eos_token_ids, a.eos_token_ids);
    std::ifstream in(out);
    const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(written.find("\"hidden_act\": \"silu\""), std::string::npos) << written;
    EXPECT_NE(written.find("\"architectures\": [\n    \"" + a.architecture + "\""), std::string::npos) << written;
    fs::remove(out);
  }
}

TEST(HfConfigJson, WriteRefusesWhatTheArchitectureCannotExpress) {
  model::LlamaConfig c = read_llama_config(write_config("w_qwen", kQwen2_05B));
  c.o_bias = true;
  EXPECT_THROW(write_llama_config(write_config("w_out", ""), c), Error);
  model::LlamaConfig l = read_llama_config(write_config("w_llama", kLlama32_1B));
  l.qkv_bias = true;  // o_bias false: Llama's attention_bias cannot say that
  try {
    write_llama_config(write_config("w_out", ""), l);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("attention_bias"), std::string::npos) << e.what();
  }
  l.qkv_bias = false;
  l.architecture = "GPT2LMHeadModel";
  EXPECT_THROW(write_llama_config(write_config("w_out", ""), l), Error);
}

}  // namespace
}  // namespace flb::hf
