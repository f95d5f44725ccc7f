// Hierarchical aggregation's pieces (sim/hierarchical.h): per-rank sums
// added as Transport::reduce_sum would, then the mean upload, against a
// float64 brute force; and the algorithms that may run hierarchical.
#include "flb/sim/hierarchical.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flb/algo/registry.h"
#include "flb/core/error.h"

namespace flb::sim {
namespace {

using algo::Tensors;
using algo::Upload;

compress::Part dense(uint32_t tensor, const torch::Tensor& v) {
  compress::Part p;
  p.tensor = tensor;
  p.numel = static_cast<uint64_t>(v.numel());
  p.values = v.reshape({-1}).contiguous();
  return p;
}

compress::Part sparse(uint32_t tensor, int64_t numel, std::vector<int32_t> at, std::vector<float> v) {
  compress::Part p;
  p.kind = compress::PartKind::kSparse;
  p.tensor = tensor;
  p.numel = static_cast<uint64_t>(numel);
  p.indices = torch::tensor(at, torch::kInt32);
  p.values = torch::tensor(v, torch::kFloat32);
  return p;
}

TEST(Hierarchical, MeanOfTheReducedRankSumsIsTheWeightedMeanOfTheUploads) {
  torch::manual_seed(2);
  const auto fedavg = algo::make_algorithm("fedavg", nullptr, 1);
  // Tensor 0 (2x3) dense in every upload, tensor 1 (4) sparse in some, tensor 2 (5) in none.
  const Tensors global = {torch::zeros({2, 3}), torch::zeros({4}), torch::zeros({5})};
  std::vector<Upload> uploads;
  const std::vector<int64_t> samples = {3, 5, 7, 11};
  for (size_t i = 0; i < samples.size(); ++i) {
    Upload u{static_cast<int64_t>(i), samples[i], {}};
    u.payload.parts.push_back(dense(0, torch::randn({2, 3})));
    if (i != 1) u.payload.parts.push_back(sparse(1, 4, {0, int32_t(i % 4)}, {float(i) + 0.5f, -1.0f}));
    uploads.push_back(u);
  }
  // "Rank 0" hosts uploads 0-1, "rank 1" uploads 2-3; reduce_sum adds in rank order.
  RankSum s0 = rank_sum(*fedavg, {uploads[0], uploads[1]}, global, {0, 2, 0, 3, 0});
  const RankSum s1 = rank_sum(*fedavg, {uploads[2], uploads[3]}, global, {0, 2, 1, 4, 0});
  for (size_t k = 0; k < s0.values.size(); ++k) s0.values[k] += s1.values[k];
  const Tallies t = tallies_of(s0, global);
  EXPECT_EQ(t.weight, 26);
  EXPECT_EQ(t.accepted, 4);
  EXPECT_EQ(t.rejected, 1);
  EXPECT_EQ(t.parts, 7);
  const Upload m = mean_upload(s0, global, fedavg->wire_id());
  ASSERT_EQ(m.payload.parts.size(), 2u) << "tensor 2, sent by no upload, has no part";
  // Brute force, float64, element by element.
  double worst = 0;
  for (uint32_t tensor : {0u, 1u}) {
    std::vector<double> want(static_cast<size_t>(global[tensor].numel()), 0.0);
    for (const Upload& u : uploads)
      for (const auto& p : u.payload.parts) {
        if (p.tensor != tensor) continue;
        const auto v = p.values.accessor<float, 1>();
        for (int64_t j = 0; j < p.values.numel(); ++j) {
          const int64_t at = p.kind == compress::PartKind::kDense ? j : p.indices.accessor<int32_t, 1>()[j];
          want[static_cast<size_t>(at)] += double(u.samples) * v[j] / 26.0;
        }
      }
    const auto got = m.payload.parts[tensor].values.accessor<float, 1>();
    for (size_t j = 0; j < want.size(); ++j) worst = std::max(worst, std::abs(double(got[int64_t(j)]) - want[j]));
  }
  std::printf("max |mean upload - brute force| = %.2e (tolerance 1e-6)\n", worst);
  EXPECT_LT(worst, 1e-6);
}

TEST(Hierarchical, WeightedMeanAlgorithmsSumAndReconstructingOnesFold) {
  for (const char* name : {"fedavg", "topk", "fedit", "fedprox", "ffa-lora", "fed-dare"})
    EXPECT_TRUE(algo::make_algorithm(name, nullptr, 1)->aggregates_by_weighted_mean()) << name;
  for (const char* name : {"lbgm", "fedloru", "pfedloru", "mfedloru", "flexlora", "fedsrd", "fedsrd-e"})
    EXPECT_FALSE(algo::make_algorithm(name, nullptr, 1)->aggregates_by_weighted_mean()) << name;
  // The reconstructing algorithms fold per rank instead (algo/rank_fold.h); the stateful ones do neither.
  for (const char* name : {"flexlora", "fedsrd", "fedsrd-e"})
    EXPECT_NE(dynamic_cast<algo::FoldsPerRank*>(algo::make_algorithm(name, nullptr, 1).get()), nullptr) << name;
  for (const char* name : {"lbgm", "fedloru", "pfedloru", "mfedloru", "fedavg", "fedit"})
    EXPECT_EQ(dynamic_cast<algo::FoldsPerRank*>(algo::make_algorithm(name, nullptr, 1).get()), nullptr) << name;
}

TEST(Hierarchical, AnEmptyRoundHasNoMean) {
  const auto fedavg = algo::make_algorithm("fedavg", nullptr, 1);
  const Tensors global = {torch::zeros({3})};
  EXPECT_THROW(mean_upload(rank_sum(*fedavg, {}, global, {}), global, fedavg->wire_id()), Error);
}

}  // namespace
}  // namespace flb::sim
