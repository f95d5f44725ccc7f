#include "flb/data/text_batches.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "flb/core/error.h"

namespace flb::data {
namespace {

// One domain of `chunks` chunks of 9 bytes (context 8) and a 4-byte tail.
ChunkTable table_of(int64_t chunks) {
  ChunkTable t;
  t.chunk_bytes = 9;
  std::vector<uint8_t> stream(static_cast<size_t>(chunks * 9 + 4));
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<uint8_t>((i * 37 + 5) % 256);
  append_domain_chunks(stream, t);
  return t;
}

TEST(TextBatches, XAndYAreTheChunkShiftedByOne) {
  const ChunkTable table = table_of(100);
  ASSERT_EQ(table.count(), 100);
  TextBatches batches(table, 8, torch::kCPU);
  EXPECT_EQ(batches.context(), 8);
  const std::vector<int64_t> ids = {99, 0, 41, 41, 7};
  auto [x, y] = batches.load(ids.data(), 5);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{5, 8}));
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_EQ(x.scalar_type(), torch::kLong);
  EXPECT_EQ(y.scalar_type(), torch::kLong);
  for (int64_t i = 0; i < 5; ++i) {
    const uint8_t* chunk = table.bytes.data() + ids[i] * 9;
    for (int64_t t = 0; t < 8; ++t) {
      ASSERT_EQ(x[i][t].item<int64_t>(), chunk[t]) << "row " << i << " position " << t;
      ASSERT_EQ(y[i][t].item<int64_t>(), chunk[t + 1]) << "row " << i << " position " << t;
    }
  }
  EXPECT_TRUE(torch::equal(x.narrow(1, 1, 7), y.narrow(1, 0, 7)));
}

TEST(TextBatches, ReusesItsBuffers) {
  const ChunkTable table = table_of(20);
  TextBatches batches(table, 4, torch::kCPU);
  const std::vector<int64_t> a = {1, 2, 3, 4}, b = {5, 6};
  auto [x1, y1] = batches.load(a.data(), 4);
  const void* x_storage = x1.data_ptr();
  const void* y_storage = y1.data_ptr();
  auto [x2, y2] = batches.load(b.data(), 2);
  EXPECT_EQ(x2.data_ptr(), x_storage);
  EXPECT_EQ(y2.data_ptr(), y_storage);
  EXPECT_EQ(x2[1][0].item<int64_t>(), table.bytes[6 * 9]);
  EXPECT_THROW(batches.load(a.data(), 5), Error);
}

TEST(TextBatches, AnEmptyTableIsFine) {
  ChunkTable empty;
  empty.chunk_bytes = 9;
  empty.domain_begin = {0, 0};
  TextBatches batches(empty, 4, torch::kCPU);
  EXPECT_EQ(batches.context(), 8);
}

// Token windows (int32 ids past 255) batch the same way as bytes.
TEST(TextBatches, Int32TokenChunksKeepTheirIds) {
  std::vector<int32_t> tokens(static_cast<size_t>(6 * 5));
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(1000 + i * 4099 % 120000);
  const torch::Tensor chunks = torch::from_blob(tokens.data(), {6, 5}, torch::kInt);
  TextBatches batches(chunks, 4, torch::kCPU);
  EXPECT_EQ(batches.context(), 4);
  const std::vector<int64_t> ids = {5, 2};
  auto [x, y] = batches.load(ids.data(), 2);
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t t = 0; t < 4; ++t) {
      ASSERT_EQ(x[i][t].item<int64_t>(), tokens[ids[i] * 5 + t]);
      ASSERT_EQ(y[i][t].item<int64_t>(), tokens[ids[i] * 5 + t + 1]);
    }
  EXPECT_THROW(TextBatches(torch::zeros({4, 5}, torch::kFloat), 4, torch::kCPU), Error);
}

}  // namespace
}  // namespace flb::data
