#include "flb/compress/wire_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::compress {
namespace {

// Tensors 0 (10, dense), 1 (1000, sparse), 2 (3, scalar), each exactly once.
WireSchema schema() {
  WireSchema s;
  s.algorithm = 7;
  s.tensors = {{10, kDenseOnly, Presence::kExactlyOnce, 0},
               {1000, kSparseOnly, Presence::kExactlyOnce, 0},
               {3, kScalarOnly, Presence::kExactlyOnce, 1}};
  return s;
}

torch::Tensor floats(const std::vector<float>& v) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kFloat32);
  if (!v.empty()) std::memcpy(t.data_ptr<float>(), v.data(), v.size() * 4);
  return t;
}

torch::Tensor positions(const std::vector<uint32_t>& v) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt32);
  if (!v.empty()) std::memcpy(t.data_ptr<int32_t>(), v.data(), v.size() * 4);
  return t;
}

// Hand-built parts (plain vectors in, tensors on the part), independent of algo/.
Part dense(uint32_t tensor, const std::vector<float>& v) {
  Part p;
  p.kind = PartKind::kDense;
  p.tensor = tensor;
  p.numel = v.size();
  p.values = floats(v);
  return p;
}

Part sparse(uint32_t tensor, uint64_t numel, const std::vector<uint32_t>& idx, const std::vector<float>& v, uint8_t tag = 0) {
  Part p;
  p.kind = PartKind::kSparse;
  p.tag = tag;
  p.tensor = tensor;
  p.numel = numel;
  p.indices = positions(idx);
  p.values = floats(v);
  return p;
}

Payload sample_payload(size_t sparse_count) {
  Payload p;
  p.algorithm = 7;
  p.client = 42;
  std::vector<float> d;
  for (int i = 0; i < 10; ++i) d.push_back(0.5f * static_cast<float>(i) - 2.0f);
  std::vector<uint32_t> idx;
  std::vector<float> v;
  Stream s(1, StreamPurpose::kTest);
  for (int64_t i : sample_without_replacement(1000, static_cast<int64_t>(sparse_count), s)) {
    idx.push_back(static_cast<uint32_t>(i));
    v.push_back(static_cast<float>(i) * 0.25f);
  }
  p.parts = {dense(0, d), sparse(1, 1000, idx, v, 3), scalar_part(2, 3, {1.5f})};
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
    EXPECT_EQ(indices_of(a.parts[i]), indices_of(b.parts[i]));
    EXPECT_EQ(values_of(a.parts[i]), values_of(b.parts[i]));
  }
}

std::string decode_error(const std::vector<uint8_t>& bytes, uint32_t client = 42, const WireSchema& s = schema()) {
  try {
    decode(bytes.data(), bytes.size(), s, client);
  } catch (const MalformedUpload& e) {
    return e.what();
  }
  return "";
}

// The MalformedUpload decode throws (fails the test when it does not).
MalformedUpload rejection(const Payload& p, const WireSchema& s = schema()) {
  const auto bytes = encode(p);
  try {
    decode(bytes.data(), bytes.size(), s, p.client);
  } catch (const MalformedUpload& e) {
    std::printf("rejected: %s\n", e.what());
    return e;
  }
  ADD_FAILURE() << "accepted";
  return MalformedUpload("none", -1, -1, "none", "none");
}

TEST(WireFormat, RoundTripsBothSparseEncodings) {
  // 10 of 1000 positions: index list (40 B) beats bitmap (125 B); 500: bitmap wins.
  for (size_t count : {0, 10, 31, 32, 500, 1000}) {
    const Payload p = sample_payload(count);
    const auto bytes = encode(p);
    EXPECT_EQ(bytes.size(), encoded_size(p));
    const size_t sparse_bytes = std::min<size_t>(count * 4, 125);
    EXPECT_EQ(bytes.size(), 24 + 3 * 24 + 10 * 4 + sparse_bytes + count * 4 + 4) << count;
    uint64_t length = 0;
    std::memcpy(&length, bytes.data() + 16, 8);
    EXPECT_EQ(length, bytes.size());  // the header carries the payload's length
    expect_equal(p, decode(bytes.data(), bytes.size(), schema(), 42));
  }
}

TEST(WireFormat, DecodedTensorsViewTheBufferWhenAlignedAndCopyOtherwise) {
  // 500 positions: a 125-byte bitmap, so the sparse values after it start at an odd offset.
  for (size_t count : {10, 500}) {
    const auto bytes = encode(sample_payload(count));
    const Payload d = decode(bytes.data(), bytes.size(), schema(), 42);
    const auto* begin = reinterpret_cast<const char*>(bytes.data());
    auto inside = [&](const torch::Tensor& t) {
      const auto* p = static_cast<const char*>(t.data_ptr());
      return p >= begin && p < begin + bytes.size();
    };
    EXPECT_TRUE(inside(d.parts[0].values)) << "dense values view the buffer";
    EXPECT_EQ(static_cast<const char*>(d.parts[0].values.data_ptr()) - begin, 48);
    if (count == 10) {
      EXPECT_TRUE(inside(d.parts[1].indices)) << "an index list is viewed";
      EXPECT_TRUE(inside(d.parts[1].values));
      EXPECT_TRUE(inside(d.parts[2].values));
    } else {
      EXPECT_FALSE(inside(d.parts[1].indices)) << "positions from a bitmap are decoded into new storage";
      EXPECT_FALSE(inside(d.parts[1].values)) << "values after a 125-byte bitmap are misaligned: copied";
      EXPECT_FALSE(inside(d.parts[2].values));
    }
  }
  // A buffer shifted by one byte: every part is copied, with the same contents.
  const auto bytes = encode(sample_payload(10));
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  const Payload d = decode(shifted.data() + 1, bytes.size(), schema(), 42);
  const auto* begin = reinterpret_cast<const char*>(shifted.data());
  for (const Part& part : d.parts) {
    const auto* p = static_cast<const char*>(part.values.data_ptr());
    EXPECT_FALSE(p >= begin && p < begin + shifted.size());
  }
  expect_equal(sample_payload(10), d);
}

TEST(WireFormat, AnOwnerKeepsTheBufferAliveForTheViews) {
  auto bytes = std::make_shared<std::vector<uint8_t>>(encode(sample_payload(10)));
  const std::weak_ptr<std::vector<uint8_t>> watch = bytes;
  Payload d = decode(bytes->data(), bytes->size(), schema(), 42, bytes);
  bytes.reset();
  EXPECT_FALSE(watch.expired()) << "the decoded tensors hold the buffer";
  expect_equal(sample_payload(10), d);
  d.parts.clear();
  EXPECT_TRUE(watch.expired()) << "released with the last tensor";
}

TEST(WireFormat, RejectsBadMagicAndVersion) {
  auto bytes = encode(sample_payload(10));
  bytes[0] ^= 1;
  EXPECT_NE(decode_error(bytes).find("magic"), std::string::npos);
  bytes = encode(sample_payload(10));
  bytes[4] = 9;
  EXPECT_NE(decode_error(bytes).find("version"), std::string::npos);
  bytes[4] = 1;  // version 1 (16-byte header, frames) is not read any more
  EXPECT_NE(decode_error(bytes).find("wire version 1, expected 2"), std::string::npos);
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
  // The header's length agrees with the buffer, but the parts end early.
  uint64_t length = longer.size();
  std::memcpy(longer.data() + 16, &length, 8);
  EXPECT_NE(decode_error(longer).find("trailing bytes after the last part"), std::string::npos);
}

TEST(WireFormat, RejectsOutOfRangeAndUnsortedPositions) {
  Payload p = sample_payload(10);
  std::vector<uint32_t> idx = indices_of(p.parts[1]);
  idx.back() = 1000;  // == numel
  p.parts[1].indices = positions(idx);
  MalformedUpload e = rejection(p);
  EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos);
  EXPECT_EQ(e.client(), 42);
  EXPECT_EQ(e.part(), 1);
  EXPECT_EQ(e.field(), "positions");
  p = sample_payload(10);
  idx = indices_of(p.parts[1]);
  std::swap(idx[0], idx[1]);
  p.parts[1].indices = positions(idx);
  e = rejection(p);
  EXPECT_NE(std::string(e.what()).find("ascending"), std::string::npos);
  EXPECT_EQ(e.part(), 1);
  EXPECT_EQ(e.field(), "positions");
}

TEST(WireFormat, RejectsNonFiniteValues) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    Payload p = sample_payload(10);
    std::vector<float> v = values_of(p.parts[0]);
    v[3] = bad;
    p.parts[0].values = floats(v);
    const MalformedUpload e = rejection(p);
    EXPECT_NE(std::string(e.what()).find("value 3 is not finite"), std::string::npos);
    EXPECT_EQ(e.part(), 0);
    EXPECT_EQ(e.field(), "values");
  }
  // In a long dense part, past the first vectorised block.
  Payload p;
  p.algorithm = 7;
  p.client = 1;
  std::vector<float> v(5000, 1.0f);
  v[4321] = std::numeric_limits<float>::quiet_NaN();
  p.parts = {dense(0, v)};
  const MalformedUpload e = rejection(p, WireSchema::uniform(7, {5000}));
  EXPECT_NE(std::string(e.what()).find("value 4321 is not finite"), std::string::npos);
}

TEST(WireFormat, RejectsWrongTensorShapeCountAndClient) {
  Payload p = sample_payload(10);
  p.parts[0].tensor = 5;
  EXPECT_NE(decode_error(encode(p)).find("tensor 5 out of range"), std::string::npos);
  p = sample_payload(10);
  std::vector<float> v = values_of(p.parts[0]);
  v.push_back(0);
  p.parts[0] = dense(0, v);  // 11 elements for a tensor of 10
  EXPECT_NE(decode_error(encode(p)).find("elements"), std::string::npos);
  EXPECT_NE(decode_error(encode(sample_payload(10)), 41).find("header names client 42"), std::string::npos);
  // A count field claiming more values than there are bytes.
  auto bytes = encode(sample_payload(10));
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(bytes.data() + 24 + 16, &huge, 8);  // first part's count
  EXPECT_NE(decode_error(bytes).find("exceeds the buffer"), std::string::npos);
}

TEST(WireFormat, RejectsBitmapWhoseBitsDisagreeWithTheCount) {
  Payload p = sample_payload(500);  // bitmap encoding
  auto bytes = encode(p);
  const size_t bitmap_at = 24 + 24 + 40 + 24;  // header, dense part, sparse part header
  // Clear one set bit: now 499 bits for 500 values.
  for (size_t i = bitmap_at; i < bitmap_at + 125; ++i) {
    if (bytes[i]) {
      bytes[i] &= static_cast<uint8_t>(bytes[i] - 1);
      break;
    }
  }
  EXPECT_NE(decode_error(bytes).find("set bits"), std::string::npos);
}

// The algorithm's upload schema, checked by the decoder: every rule, with
// the client, the part and the field the error names.
TEST(WireFormat, RejectsEachSchemaViolationNamingClientPartAndField) {
  // A part twice.
  Payload p = sample_payload(10);
  p.parts.push_back(p.parts[0]);
  MalformedUpload e = rejection(p);
  EXPECT_EQ(e.client(), 42);
  EXPECT_EQ(e.part(), 3);
  EXPECT_EQ(e.field(), "tensor");
  EXPECT_NE(std::string(e.what()).find("tensor 0 sent twice (also in part 0)"), std::string::npos);
  // A tensor missing.
  p = sample_payload(10);
  p.parts.erase(p.parts.begin() + 1);
  e = rejection(p);
  EXPECT_EQ(e.part(), MalformedUpload::kNone);
  EXPECT_EQ(e.field(), "tensor");
  EXPECT_NE(std::string(e.what()).find("client 42: malformed payload"), std::string::npos);
  EXPECT_NE(std::string(e.what()).find("upload lacks tensor 1"), std::string::npos);
  // A kind the tensor does not allow: a scalar for the dense tensor, dense for the sparse one.
  p = sample_payload(10);
  p.parts[0] = scalar_part(0, 10, {2.0f});
  e = rejection(p);
  EXPECT_EQ(e.part(), 0);
  EXPECT_EQ(e.field(), "kind");
  EXPECT_NE(std::string(e.what()).find("scalar part for tensor 0, which allows dense"), std::string::npos);
  p = sample_payload(10);
  p.parts[1] = dense(1, std::vector<float>(1000, 1.0f));
  e = rejection(p);
  EXPECT_EQ(e.part(), 1);
  EXPECT_EQ(e.field(), "kind");
  // A tensor that is never sent.
  WireSchema s = schema();
  s.tensors[2].presence = Presence::kNever;
  e = rejection(sample_payload(10), s);
  EXPECT_EQ(e.part(), 2);
  EXPECT_EQ(e.field(), "tensor");
  EXPECT_NE(std::string(e.what()).find("tensor 2 is never sent"), std::string::npos);
  // ... and without it the payload passes; an at-most-once tensor may be left out.
  p = sample_payload(10);
  p.parts.pop_back();
  const auto bytes = encode(p);
  EXPECT_NO_THROW(decode(bytes.data(), bytes.size(), s, 42));
  s.tensors[1].presence = Presence::kAtMostOnce;
  p.parts.pop_back();
  const auto fewer = encode(p);
  EXPECT_NO_THROW(decode(fewer.data(), fewer.size(), s, 42));
  // A scalar part with the wrong number of values.
  p = sample_payload(10);
  p.parts[2] = scalar_part(2, 3, {1.0f, 2.0f});
  e = rejection(p);
  EXPECT_EQ(e.part(), 2);
  EXPECT_EQ(e.field(), "count");
  // The wrong algorithm; a broadcast names the server.
  p = sample_payload(10);
  p.algorithm = 8;
  e = rejection(p);
  EXPECT_EQ(e.field(), "algorithm");
  p = sample_payload(10);
  p.client = kServerId;
  p.parts[0].tensor = 9;
  e = rejection(p);
  EXPECT_EQ(e.client(), int64_t{kServerId});
  EXPECT_NE(std::string(e.what()).find("server broadcast: malformed payload: part 0 (tensor)"), std::string::npos);
}

TEST(WireFormat, EncodeRejectsPartsItCannotWriteFromStorage) {
  Payload p = sample_payload(10);
  p.parts[0].values = torch::zeros({10}, torch::kFloat64);
  EXPECT_THROW(encode(p), Error);
  p = sample_payload(10);
  p.parts[0].values = torch::zeros({20}, torch::kFloat32).slice(0, 0, 20, 2);  // not contiguous
  EXPECT_THROW(encode(p), Error);
}

TEST(WireFormat, RandomCorruptionNeverCrashes) {
  // Flip random bytes: decode must either succeed or throw MalformedUpload.
  for (size_t count : {200, 600}) {  // index list, bitmap
    const auto clean = encode(sample_payload(count));
    Stream s(9, StreamPurpose::kTest);
    int rejected = 0;
    for (int trial = 0; trial < 3000; ++trial) {
      auto bytes = clean;
      for (int k = 0; k < 3; ++k) bytes[s.below(bytes.size())] = static_cast<uint8_t>(s.next_u64());
      try {
        decode(bytes.data(), bytes.size(), schema(), 42);
      } catch (const MalformedUpload&) {
        ++rejected;
      }
    }
    std::printf("%zu positions: %d of 3000 corrupted buffers rejected\n", count, rejected);
    EXPECT_GT(rejected, 0);
  }
}

// ---- split_uploads: a rank's payloads back to back --------------------------

Payload one_tensor(uint32_t client, size_t n) {
  Payload p;
  p.algorithm = 1;
  p.client = client;
  p.parts = {dense(0, std::vector<float>(n, 1.0f))};
  return p;
}

TEST(SplitUploads, SplitsWhatWasAppended) {
  std::vector<uint8_t> buf;
  const size_t a = encode(one_tensor(3, 5), buf);
  const size_t b = encode(one_tensor(9, 7), buf);
  EXPECT_EQ(a, encoded_size(one_tensor(3, 5)));
  EXPECT_EQ(buf.size(), a + b);  // no frames: the headers are the framing
  const auto views = split_uploads(buf.data(), buf.size(), 1);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0].client, 3u);
  EXPECT_EQ(views[1].client, 9u);
  EXPECT_EQ(views[1].size, b);
  EXPECT_EQ(views[1].offset, a);
  const Payload back = decode(views[1].data, views[1].size, WireSchema::uniform(1, {7}), 9);
  EXPECT_EQ(back.parts[0].count(), 7u);
  EXPECT_TRUE(split_uploads(buf.data(), 0, 1).empty());
}

TEST(SplitUploads, RejectsOverrunningLengthAndTruncatedHeaderNamingRankAndOffset) {
  std::vector<uint8_t> buf;
  const size_t a = encode(one_tensor(3, 5), buf);
  encode(one_tensor(4, 5), buf);
  auto bad = buf;
  const uint64_t huge = 1u << 30;
  std::memcpy(bad.data() + a + 16, &huge, 8);  // the second payload's length
  try {
    split_uploads(bad.data(), bad.size(), 2);
    ADD_FAILURE() << "accepted";
  } catch (const MalformedUpload& e) {
    std::printf("%s\n", e.what());
    EXPECT_EQ(e.client(), 4);
    EXPECT_EQ(e.field(), "length");
    EXPECT_NE(std::string(e.what()).find("rank 2, byte " + std::to_string(a)), std::string::npos);
  }
  std::vector<uint8_t> cut(buf.begin(), buf.begin() + 10);
  try {
    split_uploads(cut.data(), cut.size(), 0);
    ADD_FAILURE() << "accepted";
  } catch (const MalformedUpload& e) {
    EXPECT_EQ(e.field(), "header");
    EXPECT_NE(std::string(e.what()).find("rank 0, byte 0"), std::string::npos);
  }
  auto wrong = buf;
  wrong[a] ^= 1;  // the second payload's magic
  EXPECT_THROW(split_uploads(wrong.data(), wrong.size(), 1), MalformedUpload);
  auto zero = buf;
  const uint64_t none = 0;
  std::memcpy(zero.data() + 16, &none, 8);  // a zero length would never advance
  EXPECT_THROW(split_uploads(zero.data(), zero.size(), 1), MalformedUpload);
}

TEST(SplitUploads, KeepsTheUploadsBeforeABrokenHeader) {
  std::vector<uint8_t> buf;
  const size_t a = encode(one_tensor(3, 5), buf);
  const size_t b = encode(one_tensor(4, 5), buf);
  encode(one_tensor(5, 5), buf);
  buf[a + b] ^= 1;  // the third payload's magic
  std::optional<MalformedUpload> broken;
  const auto views = split_uploads(buf.data(), buf.size(), 1, &broken);
  ASSERT_EQ(views.size(), 2u);  // the two before the break, whole
  EXPECT_EQ(views[0].client, 3u);
  EXPECT_EQ(views[1].client, 4u);
  ASSERT_TRUE(broken.has_value());
  EXPECT_EQ(broken->field(), "magic");
  EXPECT_NE(std::string(broken->what()).find("rank 1, byte " + std::to_string(a + b)), std::string::npos);
  buf[a + b] ^= 1;  // mended: the whole buffer, no error
  EXPECT_EQ(split_uploads(buf.data(), buf.size(), 1, &broken).size(), 3u);
  EXPECT_FALSE(broken.has_value());
}

}  // namespace
}  // namespace flb::compress
