#include "flb/model/llama.h"

#include <torch/nn/functional.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include <ATen/Context.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "flb/core/error.h"
#include "flb/model/autocast.h"

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

bool is_training_with_grad(const torch::nn::Module& m) { return m.is_training() && torch::GradMode::is_enabled(); }

// Activation checkpointing of one decoder block (LibTorch C++ has no
// torch.utils.checkpoint). forward runs the block under no_grad and saves
// only its input and the default generator's state; backward restores that
// state (the same LoRA-dropout masks), recomputes the block with grad and
// returns the gradients of the input and of the block's trainable
// parameters, which are inputs of this node so that the engine accumulates
// them. The Llama must outlive the graph (it does: backward runs in the
// same training step).
struct BlockCheckpoint : torch::autograd::Function<BlockCheckpoint> {
  using Variables = torch::autograd::variable_list;

  static Variables forward(torch::autograd::AutogradContext* ctx, Llama* model, int64_t block, torch::Tensor x,
                           torch::Tensor cos, torch::Tensor sin, torch::TensorList params) {
    ctx->saved_data["model"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(model));
    ctx->saved_data["block"] = block;
    ctx->saved_data["rng"] = generator_state(x.device());
    ctx->saved_data["params"] = static_cast<int64_t>(params.size());
    ctx->save_for_backward({x, cos, sin});
    torch::NoGradGuard no_grad;
    return {model->block_forward(static_cast<size_t>(block), x, cos, sin)};
  }

  // Gradients in forward's argument order: model, block, x, cos, sin, params...
  static Variables backward(torch::autograd::AutogradContext* ctx, Variables grad_out) {
    auto* model = reinterpret_cast<Llama*>(static_cast<intptr_t>(ctx->saved_data["model"].toInt()));
    const auto block = static_cast<size_t>(ctx->saved_data["block"].toInt());
    const Variables saved = ctx->get_saved_variables();
    const std::vector<torch::Tensor> params = model->block_trainable(block);
    require(static_cast<int64_t>(params.size()) == ctx->saved_data["params"].toInt(),
            "activation checkpointing: the block's trainable parameters changed between forward and backward");
    const torch::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
    torch::Tensor out;
    {
      const torch::Tensor now = generator_state(x.device());
      set_generator_state(x.device(), ctx->saved_data["rng"].toTensor());
      torch::AutoGradMode with_grad(true);
      const AutocastGuard autocast(x.device(), model->autocast());  // recompute as forward computed
      out = model->block_forward(block, x, saved[1], saved[2]);
      set_generator_state(x.device(), now);  // the rest of backward draws as without checkpointing
    }
    Variables wrt = params;
    if (x.requires_grad()) wrt.insert(wrt.begin(), x);
    const Variables grads = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                                  /*create_graph=*/false, /*allow_unused=*/true);
    Variables result = {torch::Tensor(), torch::Tensor(), x.requires_grad() ? grads[0] : torch::Tensor(),
                        torch::Tensor(), torch::Tensor()};
    result.insert(result.end(), grads.begin() + (x.requires_grad() ? 1 : 0), grads.end());
    return result;
  }

  // The default generator of `device` (CPU, or that CUDA device), whose
  // state the recompute must replay.
  static at::Generator generator(torch::Device device) {
    return at::globalContext().defaultGenerator(device);
  }
  static torch::Tensor generator_state(torch::Device device) {
    at::Generator g = generator(device);
    std::lock_guard<std::mutex> lock(g.mutex());
    return g.get_state();
  }
  static void set_generator_state(torch::Device device, const torch::Tensor& state) {
    at::Generator g = generator(device);
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  }
};

}  // namespace

torch::Dtype parse_base_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat32;
  if (name == "bfloat16") return torch::kBFloat16;
  if (name == "float16") return torch::kFloat16;
  throw Error("--base-dtype: choose float32, bfloat16 or float16 (got '" + name + "')");
}

void check_base_dtype_runs(torch::Dtype dtype, torch::Device device) {
  const auto a = torch::ones({2, 2}, torch::TensorOptions().dtype(dtype).device(device));
  try {
    (void)torch::mm(a, a);
  } catch (const c10::Error&) {
    const char* name = dtype == torch::kFloat16 ? "float16" : dtype == torch::kBFloat16 ? "bfloat16" : "float32";
    throw Error("--base-dtype " + std::string(name) + ": this LibTorch cannot multiply such matrices on " + device.str() +
                "; use --base-dtype bfloat16 on the CPU, or float16 on --device cuda");
  }
}

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
    layer_modules_.push_back(layer);
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

torch::Tensor Llama::block_forward(size_t i, const torch::Tensor& x_in, const torch::Tensor& cos, const torch::Tensor& sin) {
  Block& b = blocks_.at(i);
  const auto x = x_in + b.o->forward(attention(b, rms_norm(x_in, b.input_norm), cos, sin));
  const auto h = rms_norm(x, b.post_norm);
  return x + b.down->forward(torch::silu(b.gate->forward(h)) * b.up->forward(h));
}

std::vector<torch::Tensor> Llama::block_trainable(size_t i) const {
  std::vector<torch::Tensor> out;
  for (const auto& p : layer_modules_.at(i)->parameters())
    if (p.requires_grad()) out.push_back(p);
  return out;
}

torch::Tensor Llama::forward(const torch::Tensor& idx) {
  const AutocastGuard autocast(idx.device(), autocast_);
  const int64_t T = idx.size(1);
  const auto positions = torch::arange(T, torch::TensorOptions().dtype(torch::kFloat32).device(inv_freq_.device()));
  const auto angles = torch::outer(positions, inv_freq_);  // (T, D/2)
  const auto emb = torch::cat({angles, angles}, -1);       // (T, D)
  const auto cos = emb.cos(), sin = emb.sin();
  auto x = F::embedding(idx, embed_).to(torch::kFloat32);  // (B, T, C); a no-op for a float32 base
  const bool checkpoint = checkpointing_ && is_training_with_grad(*this);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (!checkpoint) {
      x = block_forward(i, x, cos, sin);
      continue;
    }
    const std::vector<torch::Tensor> params = block_trainable(i);
    x = BlockCheckpoint::apply(this, static_cast<int64_t>(i), x, cos, sin, torch::TensorList(params))[0];
  }
  const auto out = rms_norm(x, norm_);
  const auto logits = lm_head_ ? lm_head_->forward(out) : frozen_linear(out, embed_);  // (B, T, V)
  return logits.to(torch::kFloat32);  // a no-op without autocast
}

void Llama::set_base_dtype(torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  for (auto& p : named_parameters()) {
    const std::string name = checkpoint_name(p.key());
    if (name.empty() || ends_with(name, ".bias")) continue;  // LoRA factors and biases stay float32
    p.value().set_data(p.value().to(dtype));
  }
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
    p.value().copy_(value.to(p.value().device(), p.value().scalar_type()));  // one conversion, into the base dtype
  }
}

}  // namespace flb::model
