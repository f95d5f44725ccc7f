#include "flb/hf/config_json.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "flb/core/error.h"

namespace flb::hf {

using nlohmann::json;

namespace {

struct Architecture {
  const char* name;
  const char* model_type;
};
const Architecture kArchitectures[] = {
    {"LlamaForCausalLM", "llama"},
    {"Qwen2ForCausalLM", "qwen2"},
    {"MistralForCausalLM", "mistral"},
};
const char* const kDtypes[] = {"float32", "bfloat16", "float16"};

std::string supported_architectures() {
  std::string s;
  for (const Architecture& a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a.name);
  return s;
}

// Field access with errors "FILE: FIELD: problem".
class Fields {
 public:
  Fields(std::string file, const json& j) : file_(std::move(file)), j_(j) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw Error(file_ + ": " + field + ": " + problem);
  }
  // The value of `field` in `obj` (nullptr when absent).
  const json* find(const json& obj, const std::string& key) const {
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }
  const json* find(const std::string& key) const { return find(j_, key); }

  int64_t integer(const json& v, const std::string& field) const {
    if (!v.is_number_integer()) fail(field, v.dump() + " is not an integer");
    return v.get<int64_t>();
  }
  int64_t positive(const json* v, const std::string& field) const {
    if (v == nullptr || v->is_null()) fail(field, "required, missing");
    const int64_t x = integer(*v, field);
    if (x <= 0) fail(field, std::to_string(x) + " must be positive");
    return x;
  }
  int64_t positive_or(const std::string& field, int64_t fallback) const {
    const json* v = find(field);
    return v == nullptr || v->is_null() ? fallback : positive(v, field);
  }
  double number(const json* v, const std::string& field) const {
    if (v == nullptr || v->is_null()) fail(field, "required, missing");
    if (!v->is_number()) fail(field, v->dump() + " is not a number");
    return v->get<double>();
  }
  double positive_number_or(const std::string& field, double fallback) const {
    const json* v = find(field);
    if (v == nullptr || v->is_null()) return fallback;
    const double x = number(v, field);
    if (!(x > 0)) fail(field, v->dump() + " must be positive");
    return x;
  }
  bool boolean_or(const std::string& field, bool fallback) const {
    const json* v = find(field);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_boolean()) fail(field, v->dump() + " is not true or false");
    return v->get<bool>();
  }
  std::string string_or(const std::string& field, const std::string& fallback) const {
    const json* v = find(field);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_string()) fail(field, v->dump() + " is not a string");
    return v->get<std::string>();
  }

 private:
  std::string file_;
  const json& j_;
};

// The rotary settings of `rs` (rope_scaling, or transformers 5's
// rope_parameters), its fields named `name`.x in errors.
void read_rope_object(const Fields& f, const json& rs, const std::string& name, model::LlamaConfig& c) {
  const json* type = f.find(rs, "rope_type");
  std::string key = name + ".rope_type";
  if (type == nullptr) {
    type = f.find(rs, "type");
    key = name + ".type";
  }
  if (type == nullptr || !type->is_string()) f.fail(name + ".rope_type", "required, a string");
  const std::string t = type->get<std::string>();
  if (t == "default") return;
  if (t != "llama3")
    f.fail(key, "\"" + t + "\" is not supported (flbench's decoder runs \"llama3\" or \"default\", or " + name + " null)");
  model::RopeScaling& s = c.rope_scaling;
  s.type = "llama3";
  s.factor = f.number(f.find(rs, "factor"), name + ".factor");
  s.low_freq_factor = f.number(f.find(rs, "low_freq_factor"), name + ".low_freq_factor");
  s.high_freq_factor = f.number(f.find(rs, "high_freq_factor"), name + ".high_freq_factor");
  s.original_max_position_embeddings =
      f.positive(f.find(rs, "original_max_position_embeddings"), name + ".original_max_position_embeddings");
  if (!(s.factor >= 1)) f.fail(name + ".factor", std::to_string(s.factor) + " must be at least 1");
  if (!(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor))
    f.fail(name + ".high_freq_factor", "needs 0 < low_freq_factor < high_freq_factor");
}

// transformers 4.x writes rope_theta + rope_scaling; 5.x one object,
// rope_parameters {rope_type, rope_theta, and llama3's fields}.
void read_rope(const Fields& f, model::LlamaConfig& c) {
  c.rope_theta = f.positive_number_or("rope_theta", 10000.0);
  const json* rp = f.find("rope_parameters");
  const json* rs = f.find("rope_scaling");
  if (rp != nullptr && !rp->is_null()) {
    if (!rp->is_object()) f.fail("rope_parameters", rp->dump() + " is not an object or null");
    if (rs != nullptr && !rs->is_null())
      f.fail("rope_parameters", "given together with rope_scaling: keep one (transformers 5 writes rope_parameters, "
                                "4.x rope_theta + rope_scaling)");
    if (const json* theta = f.find(*rp, "rope_theta")) {
      c.rope_theta = f.number(theta, "rope_parameters.rope_theta");
      if (!(c.rope_theta > 0)) f.fail("rope_parameters.rope_theta", theta->dump() + " must be positive");
    }
    read_rope_object(f, *rp, "rope_parameters", c);
    return;
  }
  if (rs == nullptr || rs->is_null()) return;
  if (!rs->is_object()) f.fail("rope_scaling", rs->dump() + " is not an object or null");
  read_rope_object(f, *rs, "rope_scaling", c);
}

int64_t token_id(const Fields& f, const json& v, const std::string& field) {
  const int64_t id = f.integer(v, field);
  if (id < 0) f.fail(field, std::to_string(id) + " is negative");
  return id;
}

}  // namespace

namespace {

// config.json as a JSON object.
json parse_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open (a Hugging Face checkpoint directory holds config.json)");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(path + ": not a JSON object");
  return j;
}

// architectures[0] (one we run) and a model_type that agrees with it.
void read_architecture(const Fields& f, model::LlamaConfig& c) {
  const json* archs = f.find("architectures");
  std::string expected_type;
  if (archs == nullptr || archs->is_null()) f.fail("architectures", "required, missing (supported: " + supported_architectures() + ")");
  if (!archs->is_array() || archs->empty() || !(*archs)[0].is_string())
    f.fail("architectures", archs->dump() + " is not a list of architecture names");
  c.architecture = (*archs)[0].get<std::string>();
  for (const Architecture& a : kArchitectures)
    if (c.architecture == a.name) expected_type = a.model_type;
  if (expected_type.empty())
    f.fail("architectures", "\"" + c.architecture + "\" is not supported (supported: " + supported_architectures() + ")");
  c.model_type = f.string_or("model_type", expected_type);
  if (c.model_type != expected_type)
    f.fail("model_type", "\"" + c.model_type + "\" contradicts architectures \"" + c.architecture + "\" (expected \"" +
                             expected_type + "\")");
}

// Sizes, norms, rotary embeddings, tied embeddings.
void read_shapes(const Fields& f, model::LlamaConfig& c) {
  c.vocab_size = f.positive(f.find("vocab_size"), "vocab_size");
  c.hidden_size = f.positive(f.find("hidden_size"), "hidden_size");
  c.intermediate_size = f.positive(f.find("intermediate_size"), "intermediate_size");
  c.num_hidden_layers = f.positive(f.find("num_hidden_layers"), "num_hidden_layers");
  c.num_attention_heads = f.positive(f.find("num_attention_heads"), "num_attention_heads");
  c.num_key_value_heads = f.positive_or("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    f.fail("num_key_value_heads", std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads " +
                                      std::to_string(c.num_attention_heads));
  const json* hd = f.find("head_dim");
  if (hd == nullptr || hd->is_null()) {
    if (c.hidden_size % c.num_attention_heads != 0)
      f.fail("head_dim", "missing, and hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                             std::to_string(c.num_attention_heads));
    c.head_dim = c.hidden_size / c.num_attention_heads;
  } else {
    c.head_dim = f.positive(hd, "head_dim");
  }
  if (c.head_dim % 2 != 0) f.fail("head_dim", std::to_string(c.head_dim) + " must be even (rotary embeddings rotate pairs)");
  c.max_position_embeddings = f.positive(f.find("max_position_embeddings"), "max_position_embeddings");
  c.rms_norm_eps = f.positive_number_or("rms_norm_eps", 1e-6);
  read_rope(f, c);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
}

// Llama: attention_bias (q, k, v and o), mlp_bias; Qwen2: q, k, v only.
void read_biases(const Fields& f, model::LlamaConfig& c) {
  if (c.model_type == "llama") {
    c.qkv_bias = c.o_bias = f.boolean_or("attention_bias", false);
    c.mlp_bias = f.boolean_or("mlp_bias", false);
  } else {
    c.qkv_bias = c.model_type == "qwen2";
    c.o_bias = false;
    c.mlp_bias = false;
  }
}

// "torch_dtype", or "dtype" in newer transformers.
void read_dtype(const Fields& f, model::LlamaConfig& c) {
  const std::string dtype_field = f.find("torch_dtype") == nullptr && f.find("dtype") != nullptr ? "dtype" : "torch_dtype";
  c.torch_dtype = f.string_or(dtype_field, "float32");
  bool dtype_ok = false;
  for (const char* d : kDtypes) dtype_ok = dtype_ok || c.torch_dtype == d;
  if (!dtype_ok) f.fail(dtype_field, "\"" + c.torch_dtype + "\" is not supported (float32, bfloat16, float16)");
}

void read_special_tokens(const Fields& f, model::LlamaConfig& c) {
  const json* bos = f.find("bos_token_id");
  c.bos_token_id = bos == nullptr || bos->is_null() ? -1 : token_id(f, *bos, "bos_token_id");
  const json* eos = f.find("eos_token_id");
  if (eos != nullptr && eos->is_array()) {
    for (const json& e : *eos) c.eos_token_ids.push_back(token_id(f, e, "eos_token_id"));
  } else if (eos != nullptr && !eos->is_null()) {
    c.eos_token_ids.push_back(token_id(f, *eos, "eos_token_id"));
  }
  for (int64_t id : c.eos_token_ids)
    if (id >= c.vocab_size) f.fail("eos_token_id", std::to_string(id) + " is not below vocab_size " + std::to_string(c.vocab_size));
  if (c.bos_token_id >= c.vocab_size)
    f.fail("bos_token_id", std::to_string(c.bos_token_id) + " is not below vocab_size " + std::to_string(c.vocab_size));
}

// What the decoder does not run.
void reject_unsupported(const Fields& f) {
  const std::string act = f.string_or("hidden_act", "silu");
  if (act != "silu") f.fail("hidden_act", "\"" + act + "\" is not supported (flbench's decoder runs \"silu\")");
  const json* dropout = f.find("attention_dropout");
  if (dropout != nullptr && !dropout->is_null() && f.number(dropout, "attention_dropout") != 0)
    f.fail("attention_dropout", dropout->dump() + " is not supported (flbench's decoder has no attention dropout: use 0)");
  if (f.find("quantization_config") != nullptr)
    f.fail("quantization_config", "quantized checkpoints are not supported (use the bf16/fp16/fp32 weights)");
}

// Sliding window (Mistral: on when not null; Qwen2: use_sliding_window):
// attention over the whole context is exact up to the window.
void apply_sliding_window(const Fields& f, model::LlamaConfig& c) {
  if (c.model_type != "llama") {
    const json* sw = f.find("sliding_window");
    const bool enabled = c.model_type == "qwen2" ? f.boolean_or("use_sliding_window", false) : (sw != nullptr && !sw->is_null());
    if (enabled) {
      const int64_t window = f.positive(sw, "sliding_window");
      if (window < c.max_position_embeddings) c.max_position_embeddings = window;
    }
  }
}

}  // namespace

model::LlamaConfig read_llama_config(const std::string& path) {
  const json j = parse_config(path);
  const Fields f(path, j);
  model::LlamaConfig c;
  read_architecture(f, c);
  read_shapes(f, c);
  read_biases(f, c);
  read_dtype(f, c);
  read_special_tokens(f, c);
  reject_unsupported(f);
  apply_sliding_window(f, c);
  return c;
}

void write_llama_config(const std::string& path, const model::LlamaConfig& c) {
  auto fail = [&](const std::string& field, const std::string& problem) {
    throw Error(path + ": " + field + ": " + problem);
  };
  std::string type;
  for (const Architecture& a : kArchitectures)
    if (c.architecture == a.name) type = a.model_type;
  if (type.empty()) fail("architectures", "\"" + c.architecture + "\" is not supported (supported: " + supported_architectures() + ")");
  if (c.model_type != type) fail("model_type", "\"" + c.model_type + "\" contradicts \"" + c.architecture + "\"");
  bool dtype_ok = false;
  for (const char* d : kDtypes) dtype_ok = dtype_ok || c.torch_dtype == d;
  if (!dtype_ok) fail("torch_dtype", "\"" + c.torch_dtype + "\" is not supported (float32, bfloat16, float16)");

  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["hidden_act"] = "silu";
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  if (c.rope_scaling.type.empty()) {
    j["rope_scaling"] = nullptr;
  } else if (c.rope_scaling.type == "llama3") {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling.factor},
                         {"low_freq_factor", c.rope_scaling.low_freq_factor},
                         {"high_freq_factor", c.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  } else {
    fail("rope_scaling.rope_type", "\"" + c.rope_scaling.type + "\" is not supported (\"llama3\" or none)");
  }
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  if (type == "llama") {
    if (c.qkv_bias != c.o_bias) fail("attention_bias", "Llama has one flag for q, k, v and o biases; qkv_bias != o_bias");
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
  } else {
    if (c.qkv_bias != (type == "qwen2") || c.o_bias)
      fail("attention_bias", c.architecture + " has " + (type == "qwen2" ? "q/k/v biases and no o bias" : "no attention biases"));
    if (c.mlp_bias) fail("mlp_bias", c.architecture + " has no MLP biases");
  }
  j["attention_dropout"] = 0.0;
  if (type == "mistral") j["sliding_window"] = nullptr;
  if (type == "qwen2") j["use_sliding_window"] = false;
  j["torch_dtype"] = c.torch_dtype;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id; else j["bos_token_id"] = nullptr;
  if (c.eos_token_ids.empty()) j["eos_token_id"] = nullptr;
  else if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else j["eos_token_id"] = c.eos_token_ids;
  j["initializer_range"] = 0.02;
  j["use_cache"] = true;

  const std::string text = j.dump(2) + "\n";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      throw Error(path + ": cannot write " + tmp);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    throw Error(path + ": cannot rename the written .tmp over it: " + std::strerror(e));
  }
}

}  // namespace flb::hf
