#include "flb/model/llama.h"

#include <torch/nn/functional.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "flb/core/error.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

const std::vector<std::string> kLoraTargets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

// A module holding one parameter named "weight" (embeddings, norms), so
// its name is the checkpoint's.
torch::Tensor weight_module(torch::nn::Module& parent, const std::string& name, torch::Tensor init) {
  auto m = std::make_shared<torch::nn::Module>();
  torch::Tensor w = m->register_parameter("weight", std::move(init));
  parent.register_module(name, m);
  return w;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// x (B, T, n, D) rotated by (cos, sin) (T, D): x * cos + rotate_half(x) * sin,
// rotate_half(x) = (-x[D/2:], x[:D/2]).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);  // (T, 1, D) broadcasts over heads
}

}  // namespace

void check_llama_config(const LlamaConfig& c) {
  auto positive = [](int64_t v, const char* field) {
    require(v > 0, std::string("config: ") + field + " must be positive (got " + std::to_string(v) + ")");
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.intermediate_size, "intermediate_size");
  positive(c.num_hidden_layers, "num_hidden_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.num_key_value_heads, "num_key_value_heads");
  positive(c.head_dim, "head_dim");
  positive(c.max_position_embeddings, "max_position_embeddings");
  require(c.num_attention_heads % c.num_key_value_heads == 0,
          "config: num_attention_heads (" + std::to_string(c.num_attention_heads) +
              ") must be a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")");
  require(c.head_dim % 2 == 0, "config: head_dim must be even for rotary embeddings (got " + std::to_string(c.head_dim) + ")");
  require(c.rms_norm_eps > 0, "config: rms_norm_eps must be positive");
  require(c.rope_theta > 0, "config: rope_theta must be positive");
  require(c.rope_scaling.type.empty() || c.rope_scaling.type == "llama3",
          "config: rope_scaling type '" + c.rope_scaling.type + "' is not supported (supported: none, llama3)");
  if (c.rope_scaling.type == "llama3")
    require(c.rope_scaling.factor > 0 && c.rope_scaling.high_freq_factor > c.rope_scaling.low_freq_factor &&
                c.rope_scaling.original_max_position_embeddings > 0,
            "config: rope_scaling (llama3) needs factor > 0, high_freq_factor > low_freq_factor and "
            "original_max_position_embeddings > 0");
}

// inv_freq[i] = theta^(-2i/D) in float32 (as HF computes it); llama3:
// wavelengths 2 pi / f above old_context / low_freq_factor are divided by
// `factor`, those below old_context / high_freq_factor kept, and those in
// between interpolated with smooth = (old_context / wavelen - low) / (high - low).
torch::Tensor rope_inv_freq(const LlamaConfig& c) {
  const int64_t D = c.head_dim;
  const auto exponents = torch::arange(0, D, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(D);
  torch::Tensor inv_freq = 1.0 / torch::pow(torch::tensor(c.rope_theta, torch::kFloat32), exponents);
  if (c.rope_scaling.type != "llama3") return inv_freq;
  const RopeScaling& s = c.rope_scaling;
  const double old_context = static_cast<double>(s.original_max_position_embeddings);
  const double low_freq_wavelen = old_context / s.low_freq_factor;
  const double high_freq_wavelen = old_context / s.high_freq_factor;
  const auto wavelen = 2 * M_PI / inv_freq;
  auto scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / s.factor, inv_freq);
  const auto smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  const auto smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
  const auto medium = (wavelen >= high_freq_wavelen).logical_and(wavelen <= low_freq_wavelen);
  return torch::where(medium, smoothed, scaled);
}

std::vector<std::string> parse_llama_lora_targets(const std::string& spec) {
  if (spec == "all") return kLoraTargets;
  std::vector<std::string> out;
  std::stringstream ss(spec);
  for (std::string t; std::getline(ss, t, ',');) {
    require(std::find(kLoraTargets.begin(), kLoraTargets.end(), t) != kLoraTargets.end(),
            "--lora-targets: unknown projection '" + t +
                "' for a Llama-family model (choose from q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj or all)");
    out.push_back(t);
  }
  require(!out.empty(), "--lora-targets: name at least one projection");
  return out;
}

Llama::Llama(const LlamaConfig& c, const LowRankSpec* lora, const std::vector<std::string>& targets) : config_(c) {
  check_llama_config(c);
  auto spec_for = [&](const std::string& name) -> const LowRankSpec* {
    return lora && std::find(targets.begin(), targets.end(), name) != targets.end() ? lora : nullptr;
  };
  const int64_t C = c.hidden_size, F_ = c.intermediate_size, D = c.head_dim;
  const int64_t q_width = c.num_attention_heads * D, kv_width = c.num_key_value_heads * D;
  auto model = register_module("model", std::make_shared<torch::nn::Module>());
  embed_ = weight_module(*model, "embed_tokens", torch::randn({c.vocab_size, C}) * 0.02);
  auto layers = model->register_module("layers", std::make_shared<torch::nn::Module>());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = layers->register_module(std::to_string(i), std::make_shared<torch::nn::Module>());
    auto attn = layer->register_module("self_attn", std::make_shared<torch::nn::Module>());
    auto mlp = layer->register_module("mlp", std::make_shared<torch::nn::Module>());
    Block b;
    b.q = attn->register_module("q_proj", make_linear(C, q_width, spec_for("q_proj"), c.qkv_bias));
    b.k = attn->register_module("k_proj", make_linear(C, kv_width, spec_for("k_proj"), c.qkv_bias));
    b.v = attn->register_module("v_proj", make_linear(C, kv_width, spec_for("v_proj"), c.qkv_bias));
    b.o = attn->register_module("o_proj", make_linear(q_width, C, spec_for("o_proj"), c.o_bias));
    b.gate = mlp->register_module("gate_proj", make_linear(C, F_, spec_for("gate_proj"), c.mlp_bias));
    b.up = mlp->register_module("up_proj", make_linear(C, F_, spec_for("up_proj"), c.mlp_bias));
    b.down = mlp->register_module("down_proj", make_linear(F_, C, spec_for("down_proj"), c.mlp_bias));
    b.input_norm = weight_module(*layer, "input_layernorm", torch::ones({C}));
    b.post_norm = weight_module(*layer, "post_attention_layernorm", torch::ones({C}));
    blocks_.push_back(b);
  }
  norm_ = weight_module(*model, "norm", torch::ones({C}));
  if (!c.tie_word_embeddings) lm_head_ = register_module("lm_head", make_linear(C, c.vocab_size, nullptr, false));
  inv_freq_ = register_buffer("inv_freq", rope_inv_freq(c));
}

// x (..., C) / sqrt(mean(x^2) + eps) * weight, the mean in float32.
torch::Tensor Llama::rms_norm(const torch::Tensor& x, const torch::Tensor& weight) const {
  const auto variance = x.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (x * torch::rsqrt(variance + config_.rms_norm_eps));
}

// h (B, T, C) -> the attention output before o_proj, (B, T, H * D).
torch::Tensor Llama::attention(Block& b, const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t B = h.size(0), T = h.size(1), H = config_.num_attention_heads, KV = config_.num_key_value_heads,
                D = config_.head_dim;
  const auto q = apply_rope(b.q->forward(h).view({B, T, H, D}), cos, sin).transpose(1, 2);   // (B, H, T, D)
  auto k = apply_rope(b.k->forward(h).view({B, T, KV, D}), cos, sin).transpose(1, 2);        // (B, KV, T, D)
  auto v = b.v->forward(h).view({B, T, KV, D}).transpose(1, 2);                               // (B, KV, T, D)
  if (KV != H) {  // KV head j serves query heads j * H/KV ... (j + 1) * H/KV - 1
    k = k.repeat_interleave(H / KV, 1);
    v = v.repeat_interleave(H / KV, 1);
  }
  const auto masked = torch::ones({T, T}, torch::TensorOptions().dtype(torch::kBool).device(h.device())).triu(1);
  auto att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));  // (B, H, T, T)
  att = torch::softmax(att.masked_fill(masked, -std::numeric_limits<float>::infinity()), -1);
  return torch::matmul(att, v).transpose(1, 2).reshape({B, T, H * D});
}

torch::Tensor Llama::forward(const torch::Tensor& idx) {
  const int64_t T = idx.size(1);
  const auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kFloat32).device(inv_freq_.device()));
  const auto angles = torch::outer(positions, inv_freq_);  // (T, D/2)
  const auto emb = torch::cat({angles, angles}, -1);       // (T, D)
  const auto cos = emb.cos(), sin = emb.sin();
  auto x = F::embedding(idx, embed_);  // (B, T, C)
  for (Block& b : blocks_) {
    x = x + b.o->forward(attention(b, rms_norm(x, b.input_norm), cos, sin));
    const auto h = rms_norm(x, b.post_norm);
    x = x + b.down->forward(torch::silu(b.gate->forward(h)) * b.up->forward(h));
  }
  const auto out = rms_norm(x, norm_);
  return lm_head_ ? lm_head_->forward(out) : F::linear(out, embed_);  // (B, T, V)
}

std::string checkpoint_name(const std::string& parameter) {
  if (ends_with(parameter, ".W")) return parameter.substr(0, parameter.size() - 2) + ".weight";
  if (ends_with(parameter, ".weight") || ends_with(parameter, ".bias")) return parameter;
  return "";
}

void load_llama_weights(Llama& model, const std::function<torch::Tensor(const std::string&)>& lookup) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) {
    const std::string name = checkpoint_name(p.key());
    if (name.empty()) continue;  // a LoRA factor
    const torch::Tensor value = lookup(name);
    require(value.defined(), "checkpoint: tensor '" + name + "' is missing");
    require(value.sizes() == p.value().sizes(), "checkpoint: tensor '" + name + "' has shape " + c10::str(value.sizes()) +
                                                    ", the config needs " + c10::str(p.value().sizes()));
    p.value().copy_(value.to(p.value().device(), torch::kFloat32));
  }
}

}  // namespace flb::model
