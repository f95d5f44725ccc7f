#include "flb/model/gpt.h"

#include <torch/nn/functional.h>
#include <torch/nn/modules/normalization.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "flb/core/error.h"

namespace flb::model {

namespace F = torch::nn::functional;

std::vector<std::string> parse_lora_targets(const std::string& spec) {
  static const std::vector<std::string> kAll = {"q", "k", "v", "o", "fc1", "fc2"};
  if (spec == "all") return kAll;
  std::vector<std::string> out;
  std::stringstream ss(spec);
  for (std::string t; std::getline(ss, t, ',');) {
    require(std::find(kAll.begin(), kAll.end(), t) != kAll.end(),
            "--lora-targets: unknown projection '" + t + "' (choose from q,k,v,o,fc1,fc2 or all)");
    out.push_back(t);
  }
  require(!out.empty(), "--lora-targets: name at least one projection");
  return out;
}

Gpt::Gpt(const GptConfig& c, const LowRankSpec* lora, const std::vector<std::string>& targets) : config_(c) {
  require(c.width % c.heads == 0, "--width must be a multiple of --heads");
  auto spec_for = [&](const std::string& name) -> const LowRankSpec* {
    return lora && std::find(targets.begin(), targets.end(), name) != targets.end() ? lora : nullptr;
  };
  const int64_t C = c.width;
  wte_ = register_parameter("wte", torch::randn({256, C}) * 0.02);
  wpe_ = register_parameter("wpe", torch::randn({c.context, C}) * 0.02);
  for (int64_t i = 0; i < c.depth; ++i) {
    auto block = std::make_shared<torch::nn::Module>();
    Block b;
    b.ln1 = block->register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
    b.q = block->register_module("q", make_linear(C, C, spec_for("q")));
    b.k = block->register_module("k", make_linear(C, C, spec_for("k")));
    b.v = block->register_module("v", make_linear(C, C, spec_for("v")));
    b.o = block->register_module("o", make_linear(C, C, spec_for("o")));
    b.ln2 = block->register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
    b.fc1 = block->register_module("fc1", make_linear(C, 4 * C, spec_for("fc1")));
    b.fc2 = block->register_module("fc2", make_linear(4 * C, C, spec_for("fc2")));
    register_module("blocks_" + std::to_string(i), block);
    blocks_.push_back(b);
  }
  ln_f_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({C})));
  head_ = register_module("head", make_linear(C, 256, nullptr));
  causal_ = register_buffer("causal", torch::ones({c.context, c.context}, torch::kBool).triu(1));
}

torch::Tensor Gpt::forward(const torch::Tensor& idx) {
  const int64_t B = idx.size(0), T = idx.size(1), C = config_.width, H = config_.heads, D = C / H;
  auto x = F::embedding(idx, wte_) + wpe_.narrow(0, 0, T);  // (B, T, C)
  const auto mask = causal_.narrow(0, 0, T).narrow(1, 0, T);
  for (Block& b : blocks_) {
    const auto h = b.ln1(x);
    auto q = b.q->forward(h).view({B, T, H, D}).transpose(1, 2);  // (B, H, T, D)
    auto k = b.k->forward(h).view({B, T, H, D}).transpose(1, 2);
    auto v = b.v->forward(h).view({B, T, H, D}).transpose(1, 2);
    auto att = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));  // (B, H, T, T)
    att = torch::softmax(att.masked_fill(mask, -1e9), -1);
    const auto y = torch::matmul(att, v).transpose(1, 2).reshape({B, T, C});  // (B, T, C)
    x = x + b.o->forward(y);
    x = x + b.fc2->forward(F::gelu(b.fc1->forward(b.ln2(x))));
  }
  return head_->forward(ln_f_(x));  // (B, T, 256)
}

void save_parameters(torch::nn::Module& model, const std::string& path) {
  torch::serialize::OutputArchive archive;
  for (const auto& p : model.named_parameters()) archive.write(p.key(), p.value().detach().to(torch::kCPU));
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  require(std::rename(tmp.c_str(), path.c_str()) == 0, path + ": cannot write (is the directory writable?)");
}

void load_parameters(torch::nn::Module& model, const std::string& path) {
  require(std::ifstream(path).good(), "--base: cannot open " + path + " (make one with `flbench pretrain --out " + path + "`)");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const std::exception& e) {
    throw Error("--base: " + path + " is not a flbench checkpoint (" + std::string(e.what()).substr(0, 200) + ")");
  }
  torch::NoGradGuard no_grad;
  auto params = model.named_parameters();
  for (const std::string& key : archive.keys()) {
    torch::Tensor* target = params.find(key);
    require(target != nullptr, "--base: " + path + " holds parameter '" + key +
                                   "' that this model lacks (different --width/--depth/--context?)");
    torch::Tensor value;
    archive.read(key, value);
    require(value.sizes() == target->sizes(), "--base: parameter '" + key + "' has shape " + c10::str(value.sizes()) +
                                                 " in the file but " + c10::str(target->sizes()) + " in the model");
    target->copy_(value);
  }
}

}  // namespace flb::model
