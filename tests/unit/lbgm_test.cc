// LBGM's scalar-or-full decision and the server's reconstruction, against
// a direct computation in double.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "algo_args.h"
#include "flb/algo/registry.h"
#include "flb/algo/tensor_parts.h"
#include "flb/compress/wire_format.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

std::unique_ptr<Algorithm> lbgm(double delta) {
  AlgoArgs c;
  c.name = "lbgm";
  c.set("--lbgm-delta", delta);
  return make_algorithm(c, 1);
}

// Through the wire, as in a run (the decoded parts view `bytes` and keep it alive).
Upload roundtrip(const Algorithm& algo, const compress::Payload& p, int64_t samples, const Tensors& like) {
  const auto bytes = std::make_shared<std::vector<uint8_t>>(compress::encode(p));
  return {p.client, samples, compress::decode(bytes->data(), bytes->size(), algo.upload_schema(like), p.client, bytes)};
}

TEST(Lbgm, DeltaOneSendsOneScalarPerTensorAfterTheFirstRoundAndServerRebuildsRhoTimesLbg) {
  auto algo = lbgm(1.0);
  torch::manual_seed(5);
  const Tensors global = {torch::zeros({6, 5}), torch::zeros({4})};
  const Tensors first = {torch::randn({6, 5}), torch::randn({4})};
  const Tensors second = {torch::randn({6, 5}), torch::randn({4})};
  const auto p1 = algo->encode_upload({2, 0, 10}, global, first);
  for (const auto& part : p1.parts) EXPECT_EQ(part.kind, compress::PartKind::kDense);
  algo->aggregate(0, {roundtrip(*algo, p1, 10, global)}, global);  // the server records lbg = first
  const auto p2 = algo->encode_upload({2, 1, 10}, global, second);
  ASSERT_EQ(p2.parts.size(), 2u);
  for (const auto& part : p2.parts) {
    EXPECT_EQ(part.kind, compress::PartKind::kScalar);
    EXPECT_EQ(compress::encode(p2).size(), 24u + 2 * (24 + 4));
  }
  const auto down = algo->aggregate(1, {roundtrip(*algo, p2, 10, global)}, global);
  for (size_t i = 0; i < 2; ++i) {
    const auto g = second[i].to(torch::kFloat64), l = first[i].to(torch::kFloat64);
    const double rho = (g * l).sum().item<double>() / (l * l).sum().item<double>();
    EXPECT_NEAR(compress::value_at(p2.parts[i], 0), rho, 1e-6);
    // With one client of weight 1 the broadcast is exactly rho * lbg (rho as sent, in float32).
    const auto want = first[i] * compress::value_at(p2.parts[i], 0);
    const auto got = part_to_dense(down.parts[i], global[i]);
    const double diff = (got - want).abs().max().item<double>();
    std::printf("tensor %zu: rho %.6f, max |server - rho*lbg| = %.3g\n", i, rho, diff);
    EXPECT_LT(diff, 1e-7);
  }
}

TEST(Lbgm, DecisionFollowsTheSinSquaredThreshold) {
  // g2 = lbg + orthogonal part: sin^2 = |o|^2 / (|lbg|^2 + |o|^2) = 1/5 here.
  const Tensors global = {torch::zeros({2})};
  const Tensors first = {torch::tensor({2.0f, 0.0f})}, second = {torch::tensor({2.0f, 1.0f})};
  for (double delta : {0.19, 0.21}) {
    auto algo = lbgm(delta);
    algo->encode_upload({0, 0, 1}, global, first);
    const auto p = algo->encode_upload({0, 1, 1}, global, second);
    EXPECT_EQ(p.parts[0].kind, delta < 0.2 ? compress::PartKind::kDense : compress::PartKind::kScalar) << delta;
    if (delta > 0.2) {
      EXPECT_FLOAT_EQ(compress::value_at(p.parts[0], 0), 1.0f);  // <g,lbg>/<lbg,lbg> = 4/4
    }
  }
}

TEST(Lbgm, DeltaZeroAlwaysSendsInFull) {
  auto algo = lbgm(0.0);
  torch::manual_seed(6);
  const Tensors global = {torch::zeros({8})};
  for (int round = 0; round < 4; ++round) {
    const auto p = algo->encode_upload({1, round, 1}, global, {torch::randn({8})});
    EXPECT_EQ(p.parts[0].kind, compress::PartKind::kDense);
  }
}

TEST(Lbgm, ScalarWithoutALookBackGradientOnRecordIsRejected) {
  auto algo = lbgm(1.0);
  const Tensors global = {torch::zeros({3})};
  compress::Payload p;
  p.algorithm = 3;
  p.client = 9;
  p.parts = {compress::scalar_part(0, 3, {1.0f})};
  EXPECT_THROW(algo->aggregate(0, {roundtrip(*algo, p, 1, global)}, global), Error);
}


// An upload the server never used (settle_upload(used = false)) leaves the
// server's look-back gradient as it was; the client's goes back to it, so
// the next scalar rho is rebuilt against the gradient both sides hold.
TEST(Lbgm, ALostUploadKeepsClientAndServerLookBackGradientsEqual) {
  const Tensors global = {torch::zeros({3})};
  const Tensors first = {torch::tensor({2.0f, 0.0f, 0.0f})};
  const Tensors second = {torch::tensor({0.0f, 3.0f, 0.0f})};   // orthogonal to first: sent in full
  const Tensors third = {torch::tensor({4.0f, 0.2f, 0.1f})};    // close to first, far from second
  for (bool second_used : {false, true}) {
    auto algo = lbgm(0.2);
    algo->aggregate(0, {roundtrip(*algo, algo->encode_upload({3, 0, 1}, global, first), 1, global)}, global);
    algo->settle_upload({3, 0, 1}, true);
    const auto p2 = algo->encode_upload({3, 1, 1}, global, second);
    ASSERT_EQ(p2.parts[0].kind, compress::PartKind::kDense);
    if (second_used) algo->aggregate(1, {roundtrip(*algo, p2, 1, global)}, global);
    algo->settle_upload({3, 1, 1}, second_used);
    const auto p3 = algo->encode_upload({3, 2, 1}, global, third);
    if (second_used) {  // both sides hold lbg = second: third is far from it, sent in full
      EXPECT_EQ(p3.parts[0].kind, compress::PartKind::kDense);
      continue;
    }
    ASSERT_EQ(p3.parts[0].kind, compress::PartKind::kScalar);  // against first, which the server holds
    const double rho = 8.0 / 4.0;                               // <third, first> / <first, first>
    const auto down = algo->aggregate(2, {roundtrip(*algo, p3, 1, global)}, global);
    const auto got = part_to_dense(down.parts[0], global[0]);
    const double diff = (got - rho * first[0]).abs().max().item<double>();
    std::printf("lost round-1 upload: rho %.6f (want %.6f), max |server - rho * first| = %.3g (tolerance 1e-6)\n",
                compress::value_at(p3.parts[0], 0), rho, diff);
    EXPECT_NEAR(compress::value_at(p3.parts[0], 0), rho, 1e-6);
    EXPECT_LT(diff, 1e-6);
  }
}

}  // namespace
}  // namespace flb::algo
