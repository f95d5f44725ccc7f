#include "flb/compress/wire_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::compress {
namespace {

WireSchema schema() { return {7, {10, 1000, 3}}; }

Payload sample_payload(size_t sparse_count) {
  Payload p;
  p.algorithm = 7;
  p.client = 42;
  Part dense;
  dense.kind = PartKind::kDense;
  dense.tensor = 0;
  dense.numel = 10;
  for (int i = 0; i < 10; ++i) dense.values.push_back(0.5f * static_cast<float>(i) - 2.0f);
  Part sparse;
  sparse.kind = PartKind::kSparse;
  sparse.tensor = 1;
  sparse.numel = 1000;
  sparse.tag = 3;
  Stream s(1, StreamPurpose::kTest);
  for (int64_t i : sample_without_replacement(1000, static_cast<int64_t>(sparse_count), s)) {
    sparse.indices.push_back(static_cast<uint32_t>(i));
    sparse.values.push_back(static_cast<float>(i) * 0.25f);
  }
  Part scalar;
  scalar.kind = PartKind::kScalar;
  scalar.tensor = 2;
  scalar.numel = 3;
  scalar.values = {1.5f};
  p.parts = {dense, sparse, scalar};
  return p;
}

void expect_equal(const Payload& a, const Payload& b) {
  EXPECT_EQ(a.algorithm, b.algorithm);
  EXPECT_EQ(a.client, b.client);
  ASSERT_EQ(a.parts.size(), b.parts.size());
  for (size_t i = 0; i < a.parts.size(); ++i) {
    EXPECT_EQ(a.parts[i].kind, b.parts[i].kind);
    EXPECT_EQ(a.parts[i].tag, b.parts[i].tag);
    EXPECT_EQ(a.parts[i].tensor, b.parts[i].tensor);
    EXPECT_EQ(a.parts[i].numel, b.parts[i].numel);
    EXPECT_EQ(a.parts[i].indices, b.parts[i].indices);
    EXPECT_EQ(a.parts[i].values, b.parts[i].values);
  }
}

std::string decode_error(const std::vector<uint8_t>& bytes, uint32_t client = 42) {
  try {
    decode(bytes.data(), bytes.size(), schema(), client);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(WireFormat, RoundTripsBothSparseEncodings) {
  // 10 of 1000 positions: index list (40 B) beats bitmap (125 B); 500: bitmap wins.
  for (size_t count : {0, 10, 31, 32, 500, 1000}) {
    const Payload p = sample_payload(count);
    const auto bytes = encode(p);
    EXPECT_EQ(bytes.size(), encoded_size(p));
    const size_t sparse_bytes = std::min<size_t>(count * 4, 125);
    EXPECT_EQ(bytes.size(), 16 + 3 * 24 + 10 * 4 + sparse_bytes + count * 4 + 4) << count;
    expect_equal(p, decode(bytes.data(), bytes.size(), schema(), 42));
  }
}

TEST(WireFormat, RejectsBadMagicAndVersion) {
  auto bytes = encode(sample_payload(10));
  bytes[0] ^= 1;
  EXPECT_NE(decode_error(bytes).find("magic"), std::string::npos);
  bytes = encode(sample_payload(10));
  bytes[4] = 9;
  EXPECT_NE(decode_error(bytes).find("version"), std::string::npos);
}

TEST(WireFormat, RejectsEveryTruncation) {
  const auto bytes = encode(sample_payload(10));
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(n));
    const std::string e = decode_error(cut);
    EXPECT_NE(e.find("client 42"), std::string::npos) << "length " << n << ": " << e;
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_NE(decode_error(longer).find("trailing"), std::string::npos);
}

TEST(WireFormat, RejectsOutOfRangeAndUnsortedPositions) {
  Payload p = sample_payload(10);
  p.parts[1].indices.back() = 1000;  // == numel
  EXPECT_NE(decode_error(encode(p)).find("out of range"), std::string::npos);
  p = sample_payload(10);
  std::swap(p.parts[1].indices[0], p.parts[1].indices[1]);
  EXPECT_NE(decode_error(encode(p)).find("ascending"), std::string::npos);
}

TEST(WireFormat, RejectsNonFiniteValues) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Payload p = sample_payload(10);
    p.parts[0].values[3] = bad;
    EXPECT_NE(decode_error(encode(p)).find("not finite"), std::string::npos);
  }
}

TEST(WireFormat, RejectsWrongTensorShapeCountAndClient) {
  Payload p = sample_payload(10);
  p.parts[0].tensor = 5;
  EXPECT_NE(decode_error(encode(p)).find("tensor 5 out of range"), std::string::npos);
  p = sample_payload(10);
  p.parts[0].numel = 11;
  p.parts[0].values.push_back(0);
  EXPECT_NE(decode_error(encode(p)).find("elements"), std::string::npos);
  EXPECT_NE(decode_error(encode(sample_payload(10)), 41).find("header names client 42"), std::string::npos);
  // A count field claiming more values than there are bytes.
  auto bytes = encode(sample_payload(10));
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(bytes.data() + 16 + 16, &huge, 8);  // first part's count
  EXPECT_NE(decode_error(bytes).find("exceeds the buffer"), std::string::npos);
}

TEST(WireFormat, RejectsBitmapWhoseBitsDisagreeWithTheCount) {
  Payload p = sample_payload(500);  // bitmap encoding
  auto bytes = encode(p);
  const size_t bitmap_at = 16 + 24 + 40 + 24;  // header, dense part, sparse part header
  // Clear one set bit: now 499 bits for 500 values.
  for (size_t i = bitmap_at; i < bitmap_at + 125; ++i) {
    if (bytes[i]) {
      bytes[i] &= static_cast<uint8_t>(bytes[i] - 1);
      break;
    }
  }
  EXPECT_NE(decode_error(bytes).find("set bits"), std::string::npos);
}

TEST(WireFormat, RandomCorruptionNeverCrashes) {
  // Flip random bytes: decode must either succeed or throw flb::Error.
  const auto clean = encode(sample_payload(200));
  Stream s(9, StreamPurpose::kTest);
  for (int trial = 0; trial < 3000; ++trial) {
    auto bytes = clean;
    for (int k = 0; k < 3; ++k) bytes[s.below(bytes.size())] = static_cast<uint8_t>(s.next_u64());
    try {
      decode(bytes.data(), bytes.size(), schema(), 42);
    } catch (const Error&) {
    }
  }
}

}  // namespace
}  // namespace flb::compress
