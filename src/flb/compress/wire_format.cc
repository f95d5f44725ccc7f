#include "flb/compress/wire_format.h"

#include <cmath>
#include <cstring>
#include <string>

#include "flb/core/error.h"

namespace flb::compress {
namespace {

enum class Encoding : uint8_t { kDense = 0, kIndex = 1, kBitmap = 2, kScalar = 3 };

constexpr size_t kHeaderBytes = 4 + 2 + 2 + 4 + 4;
constexpr size_t kPartHeaderBytes = 1 + 1 + 1 + 1 + 4 + 8 + 8;

size_t bitmap_bytes(uint64_t numel) { return static_cast<size_t>((numel + 7) / 8); }

Encoding sparse_encoding(const Part& part) {
  return part.indices.size() * sizeof(uint32_t) <= bitmap_bytes(part.numel) ? Encoding::kIndex : Encoding::kBitmap;
}

Encoding encoding_of(const Part& part) {
  switch (part.kind) {
    case PartKind::kDense: return Encoding::kDense;
    case PartKind::kSparse: return sparse_encoding(part);
    case PartKind::kScalar: return Encoding::kScalar;
  }
  throw Error("encode: unknown part kind");
}

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_bytes(std::vector<uint8_t>& out, const void* p, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  if (n) std::memcpy(out.data() + at, p, n);
}

size_t part_size(const Part& part) {
  size_t n = kPartHeaderBytes + part.values.size() * sizeof(float);
  if (part.kind == PartKind::kSparse) {
    n += sparse_encoding(part) == Encoding::kIndex ? part.indices.size() * sizeof(uint32_t) : bitmap_bytes(part.numel);
  }
  return n;
}

// Bounds-checked reader over the received bytes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string who) : p_(data), left_(size), who_(std::move(who)) {}
  template <typename T>
  T get(const char* field) {
    need(sizeof(T), field);
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    left_ -= sizeof(T);
    return v;
  }
  const uint8_t* take(size_t n, const char* field) {
    need(n, field);
    const uint8_t* at = p_;
    p_ += n;
    left_ -= n;
    return at;
  }
  size_t left() const { return left_; }
  [[noreturn]] void fail(const std::string& what) const { throw Error(who_ + ": malformed payload: " + what); }

 private:
  void need(size_t n, const char* field) const {
    if (n > left_) fail(std::string("truncated at ") + field + " (need " + std::to_string(n) + " bytes, have " + std::to_string(left_) + ")");
  }
  const uint8_t* p_;
  size_t left_;
  std::string who_;
};

}  // namespace

size_t encoded_size(const Payload& p) {
  size_t n = kHeaderBytes;
  for (const Part& part : p.parts) n += part_size(part);
  return n;
}

void encode(const Payload& p, std::vector<uint8_t>& out) {
  out.reserve(out.size() + encoded_size(p));
  put<uint32_t>(out, kWireMagic);
  put<uint16_t>(out, kWireVersion);
  put<uint16_t>(out, p.algorithm);
  put<uint32_t>(out, p.client);
  put<uint32_t>(out, static_cast<uint32_t>(p.parts.size()));
  for (const Part& part : p.parts) {
    const Encoding enc = encoding_of(part);
    put<uint8_t>(out, static_cast<uint8_t>(part.kind));
    put<uint8_t>(out, static_cast<uint8_t>(enc));
    put<uint8_t>(out, part.tag);
    put<uint8_t>(out, 0);
    put<uint32_t>(out, part.tensor);
    put<uint64_t>(out, part.numel);
    put<uint64_t>(out, part.values.size());
    if (enc == Encoding::kIndex) {
      put_bytes(out, part.indices.data(), part.indices.size() * sizeof(uint32_t));
    } else if (enc == Encoding::kBitmap) {
      const size_t at = out.size();
      out.resize(at + bitmap_bytes(part.numel), 0);
      for (uint32_t i : part.indices) out[at + i / 8] |= static_cast<uint8_t>(1u << (i % 8));
    }
    put_bytes(out, part.values.data(), part.values.size() * sizeof(float));
  }
}

std::vector<uint8_t> encode(const Payload& p) {
  std::vector<uint8_t> out;
  encode(p, out);
  return out;
}

Payload decode(const uint8_t* data, size_t size, const WireSchema& schema, uint32_t expected_client) {
  const std::string who = expected_client == kServerId ? std::string("server broadcast")
                                                       : "client " + std::to_string(expected_client);
  Reader r(data, size, who);
  if (r.get<uint32_t>("magic") != kWireMagic) r.fail("bad magic (not an flbench payload)");
  const uint16_t version = r.get<uint16_t>("version");
  if (version != kWireVersion) r.fail("wire version " + std::to_string(version) + ", expected " + std::to_string(kWireVersion));
  Payload p;
  p.algorithm = r.get<uint16_t>("algorithm");
  if (p.algorithm != schema.algorithm)
    r.fail("algorithm id " + std::to_string(p.algorithm) + ", expected " + std::to_string(schema.algorithm));
  p.client = r.get<uint32_t>("client");
  if (p.client != expected_client) r.fail("header names client " + std::to_string(p.client));
  const uint32_t parts = r.get<uint32_t>("part count");
  // Every part needs at least its header: bounds the allocation below.
  if (parts > r.left() / kPartHeaderBytes) r.fail("part count " + std::to_string(parts) + " exceeds the buffer");
  p.parts.resize(parts);
  for (uint32_t k = 0; k < parts; ++k) {
    const std::string at = "part " + std::to_string(k) + ": ";
    Part& part = p.parts[k];
    const uint8_t kind = r.get<uint8_t>("part kind");
    const uint8_t enc = r.get<uint8_t>("part encoding");
    part.tag = r.get<uint8_t>("part tag");
    if (r.get<uint8_t>("part padding") != 0) r.fail(at + "non-zero padding");
    part.tensor = r.get<uint32_t>("part tensor");
    part.numel = r.get<uint64_t>("part numel");
    const uint64_t count = r.get<uint64_t>("part count");
    if (part.tensor >= schema.tensor_numel.size())
      r.fail(at + "tensor " + std::to_string(part.tensor) + " out of range [0, " + std::to_string(schema.tensor_numel.size()) + ")");
    if (part.numel != schema.tensor_numel[part.tensor])
      r.fail(at + "tensor " + std::to_string(part.tensor) + " has " + std::to_string(schema.tensor_numel[part.tensor]) +
             " elements, payload says " + std::to_string(part.numel));
    if (count > r.left() / sizeof(float)) r.fail(at + "value count " + std::to_string(count) + " exceeds the buffer");
    const bool ok_kind = (kind == uint8_t(PartKind::kDense) && enc == uint8_t(Encoding::kDense)) ||
                         (kind == uint8_t(PartKind::kSparse) && (enc == uint8_t(Encoding::kIndex) || enc == uint8_t(Encoding::kBitmap))) ||
                         (kind == uint8_t(PartKind::kScalar) && enc == uint8_t(Encoding::kScalar));
    if (!ok_kind) r.fail(at + "unknown kind/encoding " + std::to_string(kind) + "/" + std::to_string(enc));
    part.kind = static_cast<PartKind>(kind);
    if (part.kind == PartKind::kDense && count != part.numel)
      r.fail(at + "dense part with " + std::to_string(count) + " values for " + std::to_string(part.numel) + " elements");
    if (part.kind == PartKind::kScalar && count == 0) r.fail(at + "scalar part with no value");
    if (part.kind == PartKind::kSparse) {
      if (count > part.numel) r.fail(at + "more values than elements");
      part.indices.resize(count);
      if (enc == uint8_t(Encoding::kIndex)) {
        const uint8_t* raw = r.take(count * sizeof(uint32_t), "sparse positions");
        std::memcpy(part.indices.data(), raw, count * sizeof(uint32_t));
        for (uint64_t i = 0; i < count; ++i) {
          if (part.indices[i] >= part.numel)
            r.fail(at + "position " + std::to_string(part.indices[i]) + " out of range [0, " + std::to_string(part.numel) + ")");
          if (i > 0 && part.indices[i] <= part.indices[i - 1]) r.fail(at + "positions not strictly ascending");
        }
      } else {
        const uint8_t* bits = r.take(bitmap_bytes(part.numel), "sparse bitmap");
        uint64_t found = 0;
        for (uint64_t i = 0; i < part.numel; ++i) {
          if (bits[i / 8] >> (i % 8) & 1u) {
            if (found == count) r.fail(at + "bitmap has more set bits than the " + std::to_string(count) + " values");
            part.indices[found++] = static_cast<uint32_t>(i);
          }
        }
        if (found != count) r.fail(at + "bitmap has " + std::to_string(found) + " set bits for " + std::to_string(count) + " values");
        if (part.numel % 8 && (bits[part.numel / 8] >> (part.numel % 8)) != 0) r.fail(at + "bitmap bits set past the end");
      }
    }
    part.values.resize(count);
    const uint8_t* raw = r.take(count * sizeof(float), "values");
    std::memcpy(part.values.data(), raw, count * sizeof(float));
    for (uint64_t i = 0; i < count; ++i)
      if (!std::isfinite(part.values[i])) r.fail(at + "value " + std::to_string(i) + " is not finite");
  }
  if (r.left() != 0) r.fail(std::to_string(r.left()) + " trailing bytes");
  return p;
}

}  // namespace flb::compress
