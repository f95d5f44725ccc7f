// The Llama decoder's memory and precision options (model/llama.h): a
// bfloat16 base against the float32 model, activation checkpointing
// against plain backward (with LoRA dropout), the measured activation
// memory (model/memory_meter.h) that checkpointing lowers, and bf16
// autocast (model/autocast.h) against float32.
#include <gtest/gtest.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "flb/core/config.h"
#include "flb/core/error.h"
#include "flb/model/autocast.h"
#include "flb/model/llama.h"
#include "llama_fixture.h"
#include "flb/model/memory_meter.h"

namespace flb::model {
namespace {

namespace F = torch::nn::functional;

using test::small_llama;

LowRankSpec lora_spec(double dropout) {
  LowRankSpec s;
  s.rank = 4;
  s.alpha = 8;
  s.zero_up = false;  // non-zero B, so every factor gets a gradient
  s.dropout = dropout;
  return s;
}

// A LoRA Llama on every projection, the base frozen as a run freezes it.
std::shared_ptr<Llama> make(const LowRankSpec& spec, uint64_t seed) {
  torch::manual_seed(seed);
  auto m = std::make_shared<Llama>(small_llama(), &spec, parse_llama_lora_targets("all"));
  for (auto& p : m->named_parameters()) p.value().set_requires_grad(checkpoint_name(p.key()).empty());
  return m;
}

// Mean next-token loss of one batch; gradients land in the factors.
torch::Tensor step_loss(Llama& m, const torch::Tensor& idx, const torch::Tensor& y) {
  return F::cross_entropy(m.forward(idx).reshape({-1, m.config().vocab_size}), y.reshape({-1}));
}

double max_rel_grad_diff(Llama& a, Llama& b) {
  double worst = 0;
  auto pb = b.named_parameters();
  for (const auto& p : a.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    const auto& ga = p.value().grad();
    const auto& gb = pb[p.key()].grad();
    const double scale = ga.abs().max().item<double>() + 1e-12;
    worst = std::max(worst, (ga - gb).abs().max().item<double>() / scale);
  }
  return worst;
}

TEST(LlamaBaseDtype, Bfloat16BaseMatchesFloat32WithinBfloat16Rounding) {
  const LowRankSpec spec = lora_spec(0.0);
  auto f32 = make(spec, 3), bf16 = make(spec, 3);
  bf16->set_base_dtype(torch::kBFloat16);
  int64_t narrowed = 0;
  for (const auto& p : bf16->named_parameters()) {
    const bool factor = checkpoint_name(p.key()).empty();
    EXPECT_EQ(p.value().scalar_type(), factor ? torch::kFloat32 : torch::kBFloat16) << p.key();
    narrowed += !factor;
  }
  EXPECT_EQ(narrowed, 2 * 9 + 3);  // 7 projections + 2 norms per layer, embed, norm, lm_head
  // The float32 model on the same (bf16-rounded) base: the difference is
  // then the bf16 products alone.
  {
    torch::NoGradGuard no_grad;
    auto pb = bf16->named_parameters();
    for (auto& p : f32->named_parameters()) p.value().copy_(pb[p.key()].to(torch::kFloat32));
  }
  torch::manual_seed(9);
  const auto idx = torch::randint(0, 32, {2, 12}), y = torch::randint(0, 32, {2, 12});
  const auto l32 = step_loss(*f32, idx, y), l16 = step_loss(*bf16, idx, y);
  EXPECT_EQ(l16.scalar_type(), torch::kFloat32);
  l32.backward();
  l16.backward();
  const double loss_diff = std::abs(l32.item<double>() - l16.item<double>()) / l32.item<double>();
  const double grad_diff = max_rel_grad_diff(*f32, *bf16);
  // bf16 keeps 8 significant bits (relative rounding 2^-9 = 2e-3 per
  // value); a few products deep the loss stays within 1e-2 and the
  // factors' gradients within 5e-2 of their largest entry.
  std::printf("bf16 base vs float32: |loss diff| / loss = %.3g (tolerance 1e-2), max |grad diff| / max |grad| = %.3g "
              "(tolerance 5e-2)\n", loss_diff, grad_diff);
  EXPECT_LT(loss_diff, 1e-2);
  EXPECT_LT(grad_diff, 5e-2);
  for (const auto& p : bf16->parameters()) {
    if (p.requires_grad()) {
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
    }
  }
}

// Checkpointed blocks give the same loss bitwise and the same gradients,
// with LoRA dropout drawing the same masks in the recompute.
TEST(LlamaCheckpointing, GradientsEqualPlainBackwardWithDropout) {
  for (double dropout : {0.0, 0.3}) {
    const LowRankSpec spec = lora_spec(dropout);
    auto plain = make(spec, 4), ckpt = make(spec, 4);
    ckpt->set_activation_checkpointing(true);
    torch::manual_seed(11);
    const auto idx = torch::randint(0, 32, {3, 10}), y = torch::randint(0, 32, {3, 10});
    torch::manual_seed(5);
    const auto lp = step_loss(*plain, idx, y);
    lp.backward();
    torch::manual_seed(5);
    const auto lc = step_loss(*ckpt, idx, y);
    lc.backward();
    const double grad_diff = max_rel_grad_diff(*plain, *ckpt);
    std::printf("dropout %.1f: loss %.9g plain, %.9g checkpointed; max |grad diff| / max |grad| = %.3g (tolerance 1e-6)\n",
                dropout, lp.item<double>(), lc.item<double>(), grad_diff);
    EXPECT_EQ(lp.item<float>(), lc.item<float>());
    EXPECT_LT(grad_diff, 1e-6);
    if (dropout > 0) {  // the masks matter: another draw gives another loss
      torch::manual_seed(6);
      EXPECT_NE(step_loss(*plain, idx, y).item<float>(), lp.item<float>());
    }
  }
}

TEST(LlamaCheckpointing, LowersMeasuredActivationMemory) {
  install_cpu_memory_counter();
  const LowRankSpec spec = lora_spec(0.1);
  int64_t bytes[2] = {0, 0};
  for (int on = 0; on < 2; ++on) {
    auto m = make(spec, 6);
    m->set_activation_checkpointing(on == 1);
    torch::manual_seed(2);
    const auto idx = torch::randint(0, 32, {4, 48}), y = torch::randint(0, 32, {4, 48});
    ActivationMeter meter(torch::kCPU);
    meter.begin();
    step_loss(*m, idx, y).backward();
    meter.end();
    bytes[on] = meter.max_bytes();
  }
  std::printf("measured activation bytes of one step: %lld plain, %lld checkpointed\n",
              static_cast<long long>(bytes[0]), static_cast<long long>(bytes[1]));
  EXPECT_GT(bytes[1], 0);
  EXPECT_LT(bytes[1], bytes[0]);
}

TEST(LlamaBaseDtype, OptionErrorsNameTheFlag) {
  EXPECT_EQ(parse_base_dtype("bfloat16"), torch::kBFloat16);
  try {
    parse_base_dtype("fp8");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--base-dtype"), std::string::npos) << e.what();
  }
  RunConfig c;  // fashion-mnist: the MLP has no frozen base
  c.model.base_dtype = "bfloat16";
  try {
    validate(c);
    FAIL() << "bfloat16 accepted for fashion-mnist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--base-dtype bfloat16: only for --dataset text or tokens"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(check_base_dtype_runs(torch::kBFloat16, torch::kCPU));
  // float16 matmul on the CPU exists in some LibTorch versions only;
  // where it does not, the check says what to use instead.
  const auto h = torch::ones({2, 2}, torch::kFloat16);
  bool runs = true;
  try {
    (void)torch::mm(h, h);
  } catch (const c10::Error&) {
    runs = false;
  }
  if (runs) {
    EXPECT_NO_THROW(check_base_dtype_runs(torch::kFloat16, torch::kCPU));
  } else {
    try {
      check_base_dtype_runs(torch::kFloat16, torch::kCPU);
      FAIL() << "float16 on the CPU accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--base-dtype float16"), std::string::npos) << e.what();
    }
  }
}

// bf16 autocast on the CPU (the code path CUDA takes, with CPU's kernels):
// the loss and gradients move by bf16 rounding, not more; logits,
// parameters and gradients stay float32; autocast is off again after.
TEST(LlamaAutocast, Bf16ProductsMatchFloat32WithinBf16Rounding) {
  const LowRankSpec spec = lora_spec(0.0);
  auto f32 = make(spec, 7), mixed = make(spec, 7);
  mixed->set_autocast(true);
  torch::manual_seed(12);
  const auto idx = torch::randint(0, 32, {2, 12}), y = torch::randint(0, 32, {2, 12});
  const auto logits = mixed->forward(idx);
  EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
  EXPECT_FALSE(at::autocast::is_cpu_enabled());  // the guard closed with forward
  const auto l32 = step_loss(*f32, idx, y), l16 = step_loss(*mixed, idx, y);
  l32.backward();
  l16.backward();
  const double loss_diff = std::abs(l32.item<double>() - l16.item<double>()) / l32.item<double>();
  const double grad_diff = max_rel_grad_diff(*f32, *mixed);
  std::printf("bf16 autocast vs float32: |loss diff| / loss = %.3g (in (0, 1e-2)), max |grad diff| / max |grad| = %.3g "
              "(tolerance 5e-2)\n", loss_diff, grad_diff);
  EXPECT_GT(loss_diff, 0.0);  // the products did run in bf16
  EXPECT_LT(loss_diff, 1e-2);
  EXPECT_LT(grad_diff, 5e-2);
  for (const auto& p : mixed->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    if (p.requires_grad()) {
      EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32);
    }
  }
}

// A checkpointed block recomputes under autocast as it ran in forward:
// without that, its gradients would differ by bf16 rounding (~1e-2).
TEST(LlamaAutocast, CheckpointedRecomputeRunsUnderAutocast) {
  const LowRankSpec spec = lora_spec(0.2);
  auto plain = make(spec, 8), ckpt = make(spec, 8);
  plain->set_autocast(true);
  ckpt->set_autocast(true);
  ckpt->set_activation_checkpointing(true);
  torch::manual_seed(13);
  const auto idx = torch::randint(0, 32, {2, 10}), y = torch::randint(0, 32, {2, 10});
  torch::manual_seed(5);
  step_loss(*plain, idx, y).backward();
  torch::manual_seed(5);
  step_loss(*ckpt, idx, y).backward();
  const double grad_diff = max_rel_grad_diff(*plain, *ckpt);
  std::printf("autocast, checkpointed vs plain: max |grad diff| / max |grad| = %.3g (tolerance 1e-6)\n", grad_diff);
  EXPECT_LT(grad_diff, 1e-6);
}

TEST(LlamaAutocast, GuardRestoresTheOuterStateAndOptionErrorsNameTheFlag) {
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  {
    const AutocastGuard outer(torch::kCPU, true);
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
    {
      const AutocastGuard off(torch::kCPU, false);  // a no-op: still on
      const AutocastGuard inner(torch::kCPU, true);
      EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(at::autocast::is_cpu_enabled());
  }
  EXPECT_FALSE(at::autocast::is_cpu_enabled());
  EXPECT_EQ(torch::mm(torch::ones({2, 2}), torch::ones({2, 2})).scalar_type(), torch::kFloat32);
  EXPECT_TRUE(parse_autocast("bf16"));
  EXPECT_FALSE(parse_autocast("off"));
  try {
    parse_autocast("fp16");
    FAIL() << "fp16 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--autocast"), std::string::npos) << e.what();
  }
  RunConfig c;  // fashion-mnist: no Llama to autocast
  c.model.autocast = "bf16";
  try {
    validate(c);
    FAIL() << "--autocast accepted for fashion-mnist";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--autocast bf16: only for --dataset text or tokens"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flb::model
