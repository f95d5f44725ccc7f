#include "flb/sim/upload_frames.h"

#include <gtest/gtest.h>

#include <cstring>

#include "flb/compress/wire_format.h"
#include "flb/core/error.h"

namespace flb::sim {
namespace {

compress::Payload payload(uint32_t client, size_t n) {
  compress::Payload p;
  p.algorithm = 1;
  p.client = client;
  compress::Part part;
  part.numel = n;
  part.values.assign(n, 1.0f);
  p.parts.push_back(part);
  return p;
}

TEST(UploadFrames, SplitsWhatWasAppended) {
  std::vector<uint8_t> buf;
  const size_t a = append_frame(buf, 3, payload(3, 5));
  const size_t b = append_frame(buf, 9, payload(9, 7));
  EXPECT_EQ(a, compress::encoded_size(payload(3, 5)));
  EXPECT_EQ(buf.size(), 2 * kFrameHeaderBytes + a + b);
  const auto frames = split_frames(buf.data(), buf.size(), 1);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].client, 3u);
  EXPECT_EQ(frames[1].client, 9u);
  EXPECT_EQ(frames[1].size, b);
  const compress::Payload back = compress::decode(frames[1].data, frames[1].size, {1, {7}}, 9);
  EXPECT_EQ(back.parts[0].values.size(), 7u);
}

TEST(UploadFrames, RejectsOverrunningLengthAndTruncatedHeader) {
  std::vector<uint8_t> buf;
  append_frame(buf, 3, payload(3, 5));
  auto bad = buf;
  const uint64_t huge = 1u << 30;
  std::memcpy(bad.data() + 8, &huge, 8);
  EXPECT_THROW(split_frames(bad.data(), bad.size(), 0), Error);
  std::vector<uint8_t> cut(buf.begin(), buf.begin() + 10);
  EXPECT_THROW(split_frames(cut.data(), cut.size(), 0), Error);
}

}  // namespace
}  // namespace flb::sim
