// sim/domain_eval.h's rows picked by id (the language-model tasks'
// validation split, --validation-fraction): their sums against a
// next-token cross-entropy computed here in float64, and
// validation_sample's even spacing.
#include "flb/sim/domain_eval.h"

#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>

#include "flb/core/rng.h"

namespace flb::sim {
namespace {

TEST(DomainEvaluator, RowsPickedByIdEqualAHandCrossEntropy) {
  torch::manual_seed(3);
  data::ChunkTable table;
  table.chunk_bytes = 6;  // T = 5
  Stream s(4, StreamPurpose::kTest);
  for (int i = 0; i < 12 * 6; ++i) table.bytes.push_back(static_cast<uint8_t>(s.uniform() * 16));
  table.domain_begin = {0, 12};
  torch::nn::Embedding model(256, 256);  // logits of the next byte from the current one
  DomainEvaluator eval(/*max_chunks=*/64, /*batch=*/3, *model, [&](const torch::Tensor& x) { return model->forward(x); });
  const std::vector<int64_t> ids = {7, 2, 9, 4, 11};
  eval.add_rows(torch::from_blob(table.bytes.data(), {12, 6}, torch::kUInt8), ids, {"validation", true, true}, torch::kCPU);
  ASSERT_EQ(eval.domains().size(), 1u);
  EXPECT_TRUE(eval.domains()[0].validation);
  ASSERT_EQ(eval.units(), 2);  // 3 + 2 chunks
  double loss = 0, correct = 0, count = 0;
  for (const EvalSums& u : eval.evaluate(0, eval.units())) {
    EXPECT_EQ(u.domain, 0);
    loss += u.loss_sum;
    correct += u.correct;
    count += u.count;
  }
  double want_loss = 0, want_correct = 0;
  torch::NoGradGuard no_grad;
  const torch::Tensor w = model->weight.to(torch::kFloat64);
  for (int64_t id : ids)
    for (int64_t t = 0; t < 5; ++t) {
      const int64_t in = table.bytes[size_t(id * 6 + t)], next = table.bytes[size_t(id * 6 + t + 1)];
      const torch::Tensor z = w[in];
      want_loss += (z.exp().sum().log() - z[next]).item<double>();
      want_correct += z.argmax().item<int64_t>() == next;
    }
  const double diff = std::abs(loss - want_loss) / want_loss;
  std::printf("chunks by id: loss sum %.9g, hand %.9g (relative difference %.2e, tolerance 1e-6)\n", loss, want_loss, diff);
  EXPECT_LT(diff, 1e-6);
  EXPECT_EQ(correct, want_correct);
  EXPECT_EQ(count, 25.0);
}

TEST(DomainEvaluator, ValidationSampleIsEvenlySpacedAndKeepsEachDomainsShare) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 300; ++i) ids.push_back(i < 200 ? i : 1000 + i);  // two domains, 200 and 100 chunks
  EXPECT_EQ(validation_sample(ids, 300), ids);
  EXPECT_EQ(validation_sample(ids, 500), ids);
  const std::vector<int64_t> got = validation_sample(ids, 30);
  ASSERT_EQ(got.size(), 30u);
  int64_t first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i], ids[i * 10]);
    first += got[i] < 1000;
  }
  EXPECT_EQ(first, 20);  // 2/3 from the first domain, as in the split
}

}  // namespace
}  // namespace flb::sim
