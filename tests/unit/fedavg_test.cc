// FedAvg's client and server steps against an Eigen reference.
#include "flb/algo/fedavg.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <Eigen/Dense>

#include "flb/algo/registry.h"
#include "flb/compress/wire_format.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

Eigen::MatrixXf to_eigen(const torch::Tensor& t) {
  auto c = t.to(torch::kFloat32).contiguous();
  Eigen::MatrixXf m(c.size(0), c.size(1));
  auto a = c.accessor<float, 2>();
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m(i, j) = a[i][j];
  return m;
}

TEST(FedAvg, ServerStepIsTheSampleWeightedMeanOfDeltas) {
  torch::manual_seed(0);
  const auto made = make_algorithm("fedavg", nullptr, 1);  // with its registry name and wire id
  Algorithm& algo = *made;
  const Tensors global = {torch::randn({4, 3}), torch::randn({5, 2})};
  const std::vector<int64_t> samples = {10, 30, 60};
  std::vector<Upload> uploads;
  std::vector<Tensors> locals;
  for (size_t i = 0; i < samples.size(); ++i) {
    Tensors local = {global[0] + torch::randn({4, 3}), global[1] + torch::randn({5, 2})};
    const compress::Payload p = algo.encode_upload({int64_t(i), 0, samples[i]}, global, local);
    const auto bytes = std::make_shared<std::vector<uint8_t>>(compress::encode(p));  // through the wire, as in a run
    uploads.push_back({int64_t(i), samples[i],
                       compress::decode(bytes->data(), bytes->size(), algo.upload_schema(global), uint32_t(i), bytes)});
    locals.push_back(local);
  }
  Tensors next = {global[0].clone(), global[1].clone()};
  algo.apply_download(0, next, algo.aggregate(0, uploads, global));
  double worst = 0;
  for (size_t t = 0; t < global.size(); ++t) {
    // Reference: w_i = n_i / sum n, next = global + sum_i w_i (local_i - global), in double.
    Eigen::MatrixXd ref = to_eigen(global[t]).cast<double>();
    for (size_t i = 0; i < samples.size(); ++i)
      ref += (samples[i] / 100.0) * (to_eigen(locals[i][t]) - to_eigen(global[t])).cast<double>();
    worst = std::max(worst, (to_eigen(next[t]).cast<double>() - ref).cwiseAbs().maxCoeff());
  }
  std::printf("max |flbench - eigen| = %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
}

TEST(FedAvg, UploadIsTheDenseDeltaOfEveryTensor) {
  const auto made = make_algorithm("fedavg", nullptr, 1);  // with its registry name and wire id
  Algorithm& algo = *made;
  const Tensors global = {torch::ones({2, 2})}, local = {torch::full({2, 2}, 3.0)};
  const compress::Payload p = algo.encode_upload({5, 0, 1}, global, local);
  ASSERT_EQ(p.parts.size(), 1u);
  EXPECT_EQ(p.client, 5u);
  EXPECT_EQ(compress::values_of(p.parts[0]), std::vector<float>(4, 2.0f));
}

// FedAvg's fast path (deltas computed into the buffer) against the default
// (encode_upload's payload, encoded): the same bytes, after any prefix
// (an odd one takes the unaligned fallback) and for non-contiguous tensors.
TEST(FedAvg, AppendUploadWritesTheBytesOfTheEncodedPayload) {
  torch::manual_seed(3);
  const auto made = make_algorithm("fedavg", nullptr, 1);
  Algorithm& algo = *made;
  const Tensors global = {torch::randn({7, 5}), torch::randn({6, 4}).t(), torch::randn({0})};
  const Tensors local = {torch::randn({7, 5}), torch::randn({4, 6}), torch::randn({0})};
  for (size_t prefix : {0, 3, 8}) {
    std::vector<uint8_t> fast(prefix, 0xab), reference(prefix, 0xab);
    const EncodedUpload f = algo.append_upload({9, 2, 4}, global, local, fast);
    const EncodedUpload r = algo.Algorithm::append_upload({9, 2, 4}, global, local, reference);
    EXPECT_EQ(f.bytes, r.bytes);
    EXPECT_EQ(f.values, r.values);
    EXPECT_EQ(f.scalar_parts, r.scalar_parts);
    EXPECT_EQ(static_cast<size_t>(f.bytes), fast.size() - prefix);
    size_t differing = 0;
    for (size_t i = 0; i < std::min(fast.size(), reference.size()); ++i) differing += fast[i] != reference[i];
    std::printf("prefix %zu: %zu bytes, %zu differ (tolerance 0)\n", prefix, fast.size(), differing);
    EXPECT_EQ(fast.size(), reference.size());
    EXPECT_EQ(differing, 0u);
  }
}

TEST(FedAvg, RejectsAnUploadMissingATensor) {
  const auto made = make_algorithm("fedavg", nullptr, 1);  // with its registry name and wire id
  Algorithm& algo = *made;
  const Tensors global = {torch::zeros({2}), torch::zeros({3})};
  compress::Payload p = algo.encode_upload({1, 0, 1}, global, global);
  p.parts.pop_back();
  const auto bytes = compress::encode(p);  // rank 0's decoder checks the upload schema before aggregate runs
  try {
    compress::decode(bytes.data(), bytes.size(), algo.upload_schema(global), 1);
    FAIL();
  } catch (const MalformedUpload& e) {
    std::printf("%s\n", e.what());
    EXPECT_EQ(e.client(), 1);
    EXPECT_EQ(e.field(), "tensor");
    EXPECT_NE(std::string(e.what()).find("client 1"), std::string::npos);
  }
}

}  // namespace
}  // namespace flb::algo
