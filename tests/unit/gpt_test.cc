// The byte-level GPT: causal, LoRA-neutral at start, and loadable from a
// dense checkpoint into a LoRA model.
#include "flb/model/gpt.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "flb/core/error.h"

namespace flb::model {
namespace {

GptConfig small() { return {16, 32, 2, 4}; }

TEST(Gpt, IsCausalAndShapedLikeThePaper) {
  torch::manual_seed(1);
  Gpt m(small(), nullptr, {});
  m.eval();
  torch::NoGradGuard no_grad;
  auto idx = torch::randint(0, 256, {2, 16}, torch::kLong);
  const auto a = m.forward(idx);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{2, 16, 256}));
  auto changed = idx.clone();
  changed.narrow(1, 10, 6).fill_(7);  // change only positions 10..15
  const auto b = m.forward(changed);
  const double before = (a.narrow(1, 0, 10) - b.narrow(1, 0, 10)).abs().max().item<double>();
  const double after = (a.narrow(1, 10, 6) - b.narrow(1, 10, 6)).abs().max().item<double>();
  std::printf("max change at positions < 10: %.3g, at >= 10: %.3g\n", before, after);
  EXPECT_EQ(before, 0.0);  // the future never leaks into the past
  EXPECT_GT(after, 1e-4);
}

TEST(Gpt, LoraStartsAsTheBaseAndLoadsADenseCheckpoint) {
  torch::manual_seed(2);
  Gpt dense(small(), nullptr, {});
  const std::string path = ::testing::TempDir() + "flb_gpt_base.pt";
  save_parameters(dense, path);
  LowRankSpec spec;
  spec.rank = 4;
  spec.alpha = 8;
  torch::manual_seed(3);  // a different init: everything but the factors must come from the file
  Gpt lora(small(), &spec, parse_lora_targets("all"));
  load_parameters(lora, path);
  EXPECT_EQ(low_rank_layers(lora).size(), 2u * 6);
  dense.eval();
  lora.eval();
  torch::NoGradGuard no_grad;
  const auto idx = torch::randint(0, 256, {3, 16}, torch::kLong);
  const double diff = (dense.forward(idx) - lora.forward(idx)).abs().max().item<double>();
  std::printf("max |lora(B=0) - base| = %.3g\n", diff);
  EXPECT_LT(diff, 1e-5);
  // A LoRA update changes the function.
  low_rank_layers(lora)[0]->up(0).fill_(0.1f);
  EXPECT_GT((dense.forward(idx) - lora.forward(idx)).abs().max().item<double>(), 1e-4);
  std::remove(path.c_str());
}

TEST(Gpt, CheckpointOfAnotherShapeOrMissingFileIsAClearError) {
  Gpt a(small(), nullptr, {});
  const std::string path = ::testing::TempDir() + "flb_gpt_other.pt";
  GptConfig wider = small();
  wider.width = 64;
  Gpt b(wider, nullptr, {});
  save_parameters(b, path);
  EXPECT_THROW(load_parameters(a, path), Error);
  EXPECT_THROW(load_parameters(a, path + ".missing"), Error);
  EXPECT_THROW(parse_lora_targets("q,x"), Error);
  EXPECT_EQ(parse_lora_targets("q,v").size(), 2u);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace flb::model
