// FedLoRU: factorised layers, accumulation, factor-wise averaging, and
// pFedLoRU's private pair.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "algo_args.h"
#include "flb/algo/registry.h"
#include "flb/algo/tensor_parts.h"
#include "flb/core/rng.h"
#include "flb/model/image_models.h"
#include "flb/model/low_rank.h"

namespace flb::algo {
namespace {

TEST(LowRankLayers, MergeAndReinitLeavesTheFunctionUnchanged) {
  const std::pair<const char*, size_t> models[] = {{"mlp", 2}, {"cnn", 2}, {"lenet-fedloru", 1}, {"cnn-lbgm", 2}};
  for (const auto& [name, low_rank_count] : models) {
    torch::manual_seed(1);
    model::LowRankSpec spec;
    spec.rank = 4;
    spec.alpha = 8;
    spec.zero_up = false;
    auto m = model::make_image_model(name, 10, &spec);
    const auto layers = model::low_rank_layers(*m);
    ASSERT_EQ(layers.size(), low_rank_count) << name;
    torch::NoGradGuard no_grad;
    m->eval();  // the same function twice: no dropout
    const auto x = torch::randn({5, 1, 28, 28});
    const auto before = m->forward(x);
    Stream s(1, StreamPurpose::kTest);
    for (auto* l : layers) {
      const auto w0 = l->base().clone();
      model::merge_and_reinit(*l, 0, [&] { return s.uniform(); });
      EXPECT_EQ(l->up(0).abs().max().item<float>(), 0.0f);
      EXPECT_GT((l->base() - w0).abs().max().item<float>(), 0.0f);  // W really changed
    }
    const double diff = (m->forward(x) - before).abs().max().item<double>();
    std::printf("%s: max |f_after - f_before| = %.3g\n", name, diff);
    EXPECT_LT(diff, 1e-4);
  }
}

TEST(LowRankLayers, FactorisedLinearComputesWxPlusSUDx) {
  torch::manual_seed(2);
  model::LowRankSpec spec;
  spec.rank = 3;
  spec.alpha = 6;
  spec.zero_up = false;
  auto layer = model::make_linear(7, 5, &spec);
  auto* lr = model::low_rank_layers(*layer).at(0);
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({4, 7});
  const auto bias = layer->named_parameters()["bias"];
  const auto want = x.matmul(lr->base().t()) + bias + 2.0 * x.matmul(lr->down(0).t()).matmul(lr->up(0).t());
  EXPECT_LT((layer->forward(x) - want).abs().max().item<double>(), 1e-5);
}

Tensors apply(Algorithm& algo, const Tensors& global, const std::vector<Tensors>& locals, const std::vector<int64_t>& n,
              int64_t round) {
  std::vector<Upload> uploads;
  for (size_t i = 0; i < locals.size(); ++i)
    uploads.push_back({int64_t(i), n[i], algo.encode_upload({int64_t(i), round, n[i]}, global, locals[i])});
  Tensors next;
  for (const auto& g : global) next.push_back(g.clone());
  algo.apply_download(round, next, algo.aggregate(round, uploads, global));
  return next;
}

TEST(FedLoRU, ServerAveragesEachFactorSeparatelyAndTrainsNoBase) {
  AlgoArgs c;
  c.name = "fedloru";
  c.set("--lora-rank", 4);
  auto algo = make_algorithm(c, 1);
  torch::manual_seed(3);
  auto m = model::make_image_model("mlp", 10, algo->model_spec());
  const Tensors params = algo->trainable(*m);
  for (auto* l : model::low_rank_layers(*m))
    for (const auto& p : params) EXPECT_FALSE(p.is_same(l->base()));
  EXPECT_EQ(params.size(), 2u * 3 + 2);  // fc1, fc2: bias U D; fc3: weight bias
  Tensors global;
  for (const auto& p : params) global.push_back(p.detach().clone());
  std::vector<Tensors> locals(2);
  for (auto& l : locals)
    for (const auto& g : global) l.push_back(g + torch::randn_like(g));
  const auto next = apply(*algo, global, locals, {1, 3}, 0);
  for (size_t i = 0; i < global.size(); ++i) {
    // mean(U) and mean(D) separately: never mean(U D).
    const auto want = 0.25 * locals[0][i] + 0.75 * locals[1][i];
    EXPECT_LT((next[i] - want).abs().max().item<double>(), 1e-5) << "tensor " << i;
  }
}

TEST(FedLoRU, AccumulationRoundsMergeIntoTheBase) {
  AlgoArgs c;
  c.name = "fedloru";
  c.set("--lora-rank", 2);
  c.set("--accumulate-rounds", "2");
  auto algo = make_algorithm(c, 1);
  torch::manual_seed(4);
  auto m = model::make_image_model("mlp", 10, algo->model_spec());
  Tensors params = algo->trainable(*m);
  Tensors global;
  for (const auto& p : params) global.push_back(p.detach().clone());
  auto* layer = model::low_rank_layers(*m).at(0);
  const auto base0 = layer->base().clone();
  EXPECT_EQ(base0.abs().max().item<float>(), 0.0f);  // trained from W = 0
  Tensors same = apply(*algo, global, {global}, {1}, 0);  // round 1: no merge
  EXPECT_TRUE(layer->base().equal(base0));
  Tensors merged = apply(*algo, same, {same}, {1}, 1);  // round 2: merge
  EXPECT_GT(layer->base().abs().max().item<float>(), 0.0f);
  size_t zero_factors = 0;
  for (const auto& t : merged) zero_factors += t.abs().max().item<float>() == 0.0f;
  EXPECT_EQ(zero_factors, 2u);  // U of fc1 and fc2 restarted at 0
}

TEST(PFedLoRU, PrivatePairIsNeverUploadedAndIsRestoredForItsClient) {
  AlgoArgs c;
  c.name = "pfedloru";
  c.set("--lora-rank", 2);
  auto algo = make_algorithm(c, 1);
  torch::manual_seed(5);
  auto m = model::make_image_model("mlp", 10, algo->model_spec());
  Tensors params = algo->trainable(*m);
  Tensors global;
  for (const auto& p : params) global.push_back(p.detach().clone());
  Tensors local;
  for (const auto& g : global) local.push_back(g + 1.0);
  const auto p = algo->encode_upload({7, 0, 1}, global, local);
  int64_t sent = 0, private_numel = 0;
  for (const auto& part : p.parts) sent += static_cast<int64_t>(part.count());
  for (auto* l : model::low_rank_layers(*m)) private_numel += l->up(1).numel() + l->down(1).numel();
  int64_t all = 0;
  for (const auto& g : global) all += g.numel();
  EXPECT_EQ(sent, all - private_numel);  // bytes prove it: no private value on the wire
  // The client's next round starts from its own private pair.
  Tensors fresh;
  for (const auto& g : global) fresh.push_back(g.clone());
  algo->load_client({7, 1, 1}, fresh);
  for (auto* l : model::low_rank_layers(*m))
    for (size_t i = 0; i < fresh.size(); ++i)
      if (params[i].is_same(l->up(1)) || params[i].is_same(l->down(1))) {
        EXPECT_TRUE(fresh[i].equal(local[i]));
      }
  EXPECT_GT(algo->client_state_bytes(), 0);
}

}  // namespace
}  // namespace flb::algo
