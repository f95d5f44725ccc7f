#include "flb/compress/wire_format.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "flb/core/error.h"

namespace flb::compress {
namespace {

enum class Encoding : uint8_t { kDense = 0, kIndex = 1, kBitmap = 2, kScalar = 3 };

size_t bitmap_bytes(uint64_t numel) { return static_cast<size_t>((numel + 7) / 8); }

Encoding sparse_encoding(uint64_t count, uint64_t numel) {
  return count * sizeof(uint32_t) <= bitmap_bytes(numel) ? Encoding::kIndex : Encoding::kBitmap;
}

Encoding encoding_of(const Part& part) {
  switch (part.kind) {
    case PartKind::kDense: return Encoding::kDense;
    case PartKind::kSparse: return sparse_encoding(part.count(), part.numel);
    case PartKind::kScalar: return Encoding::kScalar;
  }
  throw Error("encode: unknown part kind");
}

size_t part_size(const Part& part) {
  const uint64_t count = part.count();
  size_t n = kPartHeaderBytes + count * sizeof(float);
  if (part.kind == PartKind::kSparse)
    n += sparse_encoding(count, part.numel) == Encoding::kIndex ? count * sizeof(uint32_t) : bitmap_bytes(part.numel);
  return n;
}

template <typename T>
void put(uint8_t*& p, T v) {
  std::memcpy(p, &v, sizeof(T));
  p += sizeof(T);
}

// Checks what encode() relies on: a 1-D view of `count` contiguous elements of `type`.
void require_storage(const torch::Tensor& t, torch::ScalarType type, uint64_t count, size_t k, const char* what) {
  if (t.defined() && t.scalar_type() == type && t.is_contiguous() && static_cast<uint64_t>(t.numel()) == count) return;
  throw Error("encode: part " + std::to_string(k) + ": " + what + " must be a contiguous " +
              (type == torch::kFloat32 ? "float32" : "int32") + " tensor of " + std::to_string(count) + " elements");
}

// Copies t's bytes (contiguous, on any device) to dst once.
void copy_out(const torch::Tensor& t, uint8_t* dst) {
  const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
  if (bytes == 0) return;
  if (t.is_cpu()) {
    std::memcpy(dst, t.data_ptr(), bytes);
  } else {  // device -> host, straight into the output buffer
    torch::from_blob(dst, {t.numel()}, torch::TensorOptions().dtype(t.scalar_type())).copy_(t);
  }
}

void put_header(uint8_t*& w, uint16_t algorithm, uint32_t client, size_t parts, uint64_t length) {
  put<uint32_t>(w, kWireMagic);
  put<uint16_t>(w, kWireVersion);
  put<uint16_t>(w, algorithm);
  put<uint32_t>(w, client);
  put<uint32_t>(w, static_cast<uint32_t>(parts));
  put<uint64_t>(w, length);
}

void put_part_header(uint8_t*& w, PartKind kind, Encoding enc, uint8_t tag, uint32_t tensor, uint64_t numel, uint64_t count) {
  put<uint8_t>(w, static_cast<uint8_t>(kind));
  put<uint8_t>(w, static_cast<uint8_t>(enc));
  put<uint8_t>(w, tag);
  put<uint8_t>(w, 0);
  put<uint32_t>(w, tensor);
  put<uint64_t>(w, numel);
  put<uint64_t>(w, count);
}

bool aligned4(const uint8_t* p) { return reinterpret_cast<uintptr_t>(p) % 4 == 0; }

// (a - b) as float32 at dst: computed in place when dst can hold a CPU
// float32 tensor (aligned, a and b float32 on the host), else computed
// and copied once (device -> host straight into dst).
void write_difference(const torch::Tensor& a, const torch::Tensor& b, uint8_t* dst) {
  if (a.numel() == 0) return;
  if (aligned4(dst) && a.is_cpu() && b.is_cpu() && a.scalar_type() == torch::kFloat32 && b.scalar_type() == torch::kFloat32) {
    torch::Tensor view = torch::from_blob(dst, a.sizes(), torch::TensorOptions().dtype(torch::kFloat32));
    torch::sub_out(view, a.detach(), b.detach());
    return;
  }
  copy_out((a.detach() - b.detach()).to(torch::kFloat32).contiguous(), dst);
}

void write_bitmap(const Part& part, size_t k, uint8_t* dst) {
  const size_t n = bitmap_bytes(part.numel);
  std::memset(dst, 0, n);
  const torch::Tensor idx = part.indices.to(torch::kCPU);
  const auto* p = reinterpret_cast<const uint32_t*>(idx.data_ptr<int32_t>());
  for (int64_t j = 0; j < idx.numel(); ++j) {
    const uint32_t i = p[j];
    if (i >= part.numel) throw Error("encode: part " + std::to_string(k) + ": position " + std::to_string(i) + " out of range");
    dst[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
  }
}

// Index of the first non-finite float32 among n at p (any alignment), or n.
// Exponent bits all ones is Inf or NaN; blocks keep the scan vectorisable.
uint64_t first_non_finite(const uint8_t* p, uint64_t n) {
  constexpr uint64_t kBlock = 2048;
  for (uint64_t b = 0; b < n; b += kBlock) {
    const uint64_t e = std::min(n, b + kBlock);
    uint32_t bad = 0;
    for (uint64_t i = b; i < e; ++i) {
      uint32_t u;
      std::memcpy(&u, p + i * 4, 4);
      bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
    }
    if (bad)
      for (uint64_t i = b; i < e; ++i) {
        uint32_t u;
        std::memcpy(&u, p + i * 4, 4);
        if ((u & 0x7f800000u) == 0x7f800000u) return i;
      }
  }
  return n;
}

// Whether n uint32 positions at p are strictly ascending and <= max_pos.
bool positions_ok(const uint8_t* p, uint64_t n, uint32_t max_pos) {
  if (n == 0) return true;
  uint32_t prev;
  std::memcpy(&prev, p, 4);
  uint32_t bad = prev > max_pos;
  for (uint64_t i = 1; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, p + i * 4, 4);
    bad |= static_cast<uint32_t>(u <= prev) | static_cast<uint32_t>(u > max_pos);
    prev = u;
  }
  return bad == 0;
}

// n elements of `type` (4 bytes each) at p: a view when aligned, else a copy.
torch::Tensor view_or_copy(const uint8_t* p, int64_t n, torch::ScalarType type, const std::shared_ptr<const void>& owner) {
  const auto opt = torch::TensorOptions().dtype(type);
  if (aligned4(p)) {
    void* at = const_cast<uint8_t*>(p);  // read-only by contract (payload.h)
    if (owner) return torch::from_blob(at, {n}, [owner](void*) {}, opt);
    return torch::from_blob(at, {n}, opt);
  }
  torch::Tensor t = torch::empty({n}, opt);
  if (n) std::memcpy(t.data_ptr(), p, static_cast<size_t>(n) * 4);
  return t;
}

const char* kind_name(uint8_t kind) {
  switch (kind) {
    case uint8_t(PartKind::kDense): return "dense";
    case uint8_t(PartKind::kSparse): return "sparse";
    case uint8_t(PartKind::kScalar): return "scalar";
  }
  return "unknown";
}

std::string kinds_list(uint8_t kinds) {
  std::string s;
  for (uint8_t k : {uint8_t(PartKind::kDense), uint8_t(PartKind::kSparse), uint8_t(PartKind::kScalar)})
    if (kinds & (1u << k)) s += std::string(s.empty() ? "" : ", ") + kind_name(k);
  return s.empty() ? "none" : s;
}

// Bounds-checked reader over the received bytes; every failure is a
// MalformedUpload naming the sender, the current part and the field.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, std::string who, int64_t client)
      : p_(data), left_(size), who_(std::move(who)), client_(client) {}
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
  void set_part(int64_t k) { part_ = k; }
  [[noreturn]] void fail(const char* field, const std::string& what) const {
    throw MalformedUpload(who_, client_, part_, field, what);
  }
  [[noreturn]] void fail_whole(const char* field, const std::string& what) const {
    throw MalformedUpload(who_, client_, MalformedUpload::kNone, field, what);
  }

 private:
  void need(size_t n, const char* field) const {
    if (n > left_) fail(field, std::string("truncated at ") + field + " (need " + std::to_string(n) + " bytes, have " + std::to_string(left_) + ")");
  }
  const uint8_t* p_;
  size_t left_;
  std::string who_;
  int64_t client_;
  int64_t part_ = MalformedUpload::kNone;
};

// Reads a sparse part's positions (index list or bitmap) into part.indices.
void read_positions(Reader& r, Part& part, Encoding enc, uint64_t count, const std::shared_ptr<const void>& owner) {
  const std::string n = std::to_string(part.numel);
  if (enc == Encoding::kIndex) {
    const uint8_t* raw = r.take(count * sizeof(uint32_t), "positions");
    const uint32_t max_pos = static_cast<uint32_t>(std::min<uint64_t>(part.numel - 1, 0xffffffffu));  // count > 0 here
    if (count && !positions_ok(raw, count, max_pos)) {
      uint32_t prev = 0;
      for (uint64_t i = 0; i < count; ++i) {
        uint32_t u;
        std::memcpy(&u, raw + i * 4, 4);
        if (u >= part.numel) r.fail("positions", "position " + std::to_string(u) + " out of range [0, " + n + ")");
        if (i > 0 && u <= prev) r.fail("positions", "positions not strictly ascending");
        prev = u;
      }
    }
    part.indices = view_or_copy(raw, static_cast<int64_t>(count), torch::kInt32, owner);
    return;
  }
  const size_t nbytes = bitmap_bytes(part.numel);
  const uint8_t* bits = r.take(nbytes, "bitmap");
  if (part.numel % 8 && (bits[part.numel / 8] >> (part.numel % 8)) != 0) r.fail("bitmap", "bitmap bits set past the end");
  uint64_t found = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, bits + i, 8);
    found += static_cast<uint64_t>(__builtin_popcountll(w));
  }
  for (; i < nbytes; ++i) found += static_cast<uint64_t>(__builtin_popcount(bits[i]));
  if (found > count) r.fail("bitmap", "bitmap has more set bits than the " + std::to_string(count) + " values");
  if (found != count) r.fail("bitmap", "bitmap has " + std::to_string(found) + " set bits for " + std::to_string(count) + " values");
  part.indices = torch::empty({static_cast<int64_t>(count)}, torch::kInt32);
  auto* out = reinterpret_cast<uint32_t*>(part.indices.data_ptr<int32_t>());
  for (i = 0; i < nbytes; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, bits + i, std::min<size_t>(8, nbytes - i));
    while (w) {
      *out++ = static_cast<uint32_t>(i * 8 + static_cast<size_t>(__builtin_ctzll(w)));
      w &= w - 1;
    }
  }
}

// Reads part k (header, positions, values) and checks it against the schema.
void read_part(Reader& r, Part& part, const WireSchema& schema, const std::shared_ptr<const void>& owner) {
  const uint8_t kind = r.get<uint8_t>("kind");
  const uint8_t enc = r.get<uint8_t>("encoding");
  part.tag = r.get<uint8_t>("tag");
  if (r.get<uint8_t>("padding") != 0) r.fail("padding", "non-zero padding");
  part.tensor = r.get<uint32_t>("tensor");
  part.numel = r.get<uint64_t>("numel");
  const uint64_t count = r.get<uint64_t>("count");
  if (part.tensor >= schema.tensors.size())
    r.fail("tensor", "tensor " + std::to_string(part.tensor) + " out of range [0, " + std::to_string(schema.tensors.size()) + ")");
  const TensorRule& rule = schema.tensors[part.tensor];
  if (part.numel != rule.numel)
    r.fail("numel", "tensor " + std::to_string(part.tensor) + " has " + std::to_string(rule.numel) + " elements, payload says " +
                        std::to_string(part.numel));
  if (count > r.left() / sizeof(float)) r.fail("count", "value count " + std::to_string(count) + " exceeds the buffer");
  const bool ok_kind = (kind == uint8_t(PartKind::kDense) && enc == uint8_t(Encoding::kDense)) ||
                       (kind == uint8_t(PartKind::kSparse) && (enc == uint8_t(Encoding::kIndex) || enc == uint8_t(Encoding::kBitmap))) ||
                       (kind == uint8_t(PartKind::kScalar) && enc == uint8_t(Encoding::kScalar));
  if (!ok_kind) r.fail("kind", "unknown kind/encoding " + std::to_string(kind) + "/" + std::to_string(enc));
  if (rule.presence == Presence::kNever)
    r.fail("tensor", "tensor " + std::to_string(part.tensor) + " is never sent by this algorithm");
  if (!(rule.kinds & (1u << kind)))
    r.fail("kind", std::string(kind_name(kind)) + " part for tensor " + std::to_string(part.tensor) + ", which allows " +
                       kinds_list(rule.kinds));
  part.kind = static_cast<PartKind>(kind);
  if (part.kind == PartKind::kDense && count != part.numel)
    r.fail("count", "dense part with " + std::to_string(count) + " values for " + std::to_string(part.numel) + " elements");
  if (part.kind == PartKind::kScalar && count == 0) r.fail("count", "scalar part with no value");
  if (part.kind == PartKind::kScalar && rule.scalar_values && count != rule.scalar_values)
    r.fail("count", "scalar part with " + std::to_string(count) + " values, expected " + std::to_string(rule.scalar_values));
  if (part.kind == PartKind::kSparse) {
    if (count > part.numel) r.fail("count", "more values than elements");
    read_positions(r, part, static_cast<Encoding>(enc), count, owner);
  }
  const uint8_t* raw = r.take(count * sizeof(float), "values");
  const uint64_t bad = first_non_finite(raw, count);
  if (bad != count) r.fail("values", "value " + std::to_string(bad) + " is not finite");
  part.values = view_or_copy(raw, static_cast<int64_t>(count), torch::kFloat32, owner);
}

}  // namespace

WireSchema WireSchema::uniform(uint16_t algorithm, const std::vector<uint64_t>& numel, uint8_t kinds, Presence presence) {
  WireSchema s;
  s.algorithm = algorithm;
  for (uint64_t n : numel) s.tensors.push_back({n, kinds, presence, 0});
  return s;
}

size_t encoded_size(const Payload& p) {
  size_t n = kHeaderBytes;
  for (const Part& part : p.parts) n += part_size(part);
  return n;
}

size_t encode_into(const Payload& p, uint8_t* dst) {
  uint8_t* w = dst;
  put_header(w, p.algorithm, p.client, p.parts.size(), encoded_size(p));
  for (size_t k = 0; k < p.parts.size(); ++k) {
    const Part& part = p.parts[k];
    const uint64_t count = part.count();
    const Encoding enc = encoding_of(part);
    require_storage(part.values, torch::kFloat32, count, k, "values");
    if (part.kind == PartKind::kDense && count != part.numel)
      throw Error("encode: part " + std::to_string(k) + ": a dense part needs numel values");
    put_part_header(w, part.kind, enc, part.tag, part.tensor, part.numel, count);
    if (part.kind == PartKind::kSparse) {
      require_storage(part.indices, torch::kInt32, count, k, "indices");
      if (enc == Encoding::kIndex) {
        copy_out(part.indices, w);
        w += count * sizeof(uint32_t);
      } else {
        write_bitmap(part, k, w);
        w += bitmap_bytes(part.numel);
      }
    }
    copy_out(part.values, w);
    w += count * sizeof(float);
  }
  return static_cast<size_t>(w - dst);
}

size_t append_dense_differences(uint16_t algorithm, uint32_t client, const std::vector<torch::Tensor>& a,
                                const std::vector<torch::Tensor>& b, std::vector<uint8_t>& out) {
  require(a.size() == b.size(), "append_dense_differences: as many tensors in a as in b");
  size_t length = kHeaderBytes;
  for (size_t k = 0; k < a.size(); ++k) {
    require(a[k].numel() == b[k].numel(), "append_dense_differences: tensor " + std::to_string(k) + ": a and b differ in size");
    length += kPartHeaderBytes + static_cast<size_t>(a[k].numel()) * sizeof(float);
  }
  const size_t at = out.size();
  out.resize(at + length);
  uint8_t* w = out.data() + at;
  put_header(w, algorithm, client, a.size(), length);
  for (size_t k = 0; k < a.size(); ++k) {
    const uint64_t n = static_cast<uint64_t>(a[k].numel());
    put_part_header(w, PartKind::kDense, Encoding::kDense, 0, static_cast<uint32_t>(k), n, n);
    write_difference(a[k], b[k], w);
    w += n * sizeof(float);
  }
  return length;
}

size_t encode(const Payload& p, std::vector<uint8_t>& out) {
  const size_t at = out.size(), n = encoded_size(p);
  out.resize(at + n);
  encode_into(p, out.data() + at);
  return n;
}

std::vector<uint8_t> encode(const Payload& p) {
  std::vector<uint8_t> out;
  encode(p, out);
  return out;
}

Payload decode(const uint8_t* data, size_t size, const WireSchema& schema, uint32_t expected_client,
               std::shared_ptr<const void> owner) {
  const std::string who = expected_client == kServerId ? std::string("server broadcast")
                                                       : "client " + std::to_string(expected_client);
  Reader r(data, size, who, expected_client);
  if (r.get<uint32_t>("magic") != kWireMagic) r.fail("magic", "bad magic (not an flbench payload)");
  const uint16_t version = r.get<uint16_t>("version");
  if (version != kWireVersion) r.fail("version", "wire version " + std::to_string(version) + ", expected " + std::to_string(kWireVersion));
  Payload p;
  p.algorithm = r.get<uint16_t>("algorithm");
  if (p.algorithm != schema.algorithm)
    r.fail("algorithm", "algorithm id " + std::to_string(p.algorithm) + ", expected " + std::to_string(schema.algorithm));
  p.client = r.get<uint32_t>("client");
  if (p.client != expected_client) r.fail("client", "header names client " + std::to_string(p.client));
  const uint32_t parts = r.get<uint32_t>("parts");
  const uint64_t length = r.get<uint64_t>("length");
  if (length > size) r.fail("length", "truncated: the header's length is " + std::to_string(length) + " bytes, " + std::to_string(size) + " arrived");
  if (length < size) r.fail("length", std::to_string(size - length) + " trailing bytes after the header's length " + std::to_string(length));
  // Every part needs at least its header: bounds the allocation below.
  if (parts > r.left() / kPartHeaderBytes) r.fail("parts", "part count " + std::to_string(parts) + " exceeds the buffer");
  p.parts.resize(parts);
  std::vector<int64_t> seen(schema.tensors.size(), -1);  // the part that sent each tensor
  for (uint32_t k = 0; k < parts; ++k) {
    r.set_part(k);
    Part& part = p.parts[k];
    read_part(r, part, schema, owner);
    int64_t& first = seen[part.tensor];
    if (first >= 0) r.fail("tensor", "tensor " + std::to_string(part.tensor) + " sent twice (also in part " + std::to_string(first) + ")");
    first = k;
  }
  r.set_part(MalformedUpload::kNone);
  if (r.left() != 0) r.fail("length", std::to_string(r.left()) + " trailing bytes after the last part");
  for (size_t i = 0; i < seen.size(); ++i)
    if (seen[i] < 0 && schema.tensors[i].presence == Presence::kExactlyOnce)
      r.fail_whole("tensor", "upload lacks tensor " + std::to_string(i));
  return p;
}

namespace {

// The error of the header at `h`, `left` bytes before the buffer's end, or
// nothing when it frames a whole payload.
std::optional<MalformedUpload> broken_header(const uint8_t* h, size_t left, const std::string& who) {
  auto error = [&](int64_t client, const char* field, const std::string& what) {
    return std::optional<MalformedUpload>(std::in_place, who, client, MalformedUpload::kNone, field, what);
  };
  if (left < kHeaderBytes)
    return error(MalformedUpload::kNone, "header",
                 "truncated payload header (" + std::to_string(left) + " of " + std::to_string(kHeaderBytes) + " bytes)");
  uint32_t magic, client;
  uint16_t version;
  uint64_t length;
  std::memcpy(&magic, h, 4);
  std::memcpy(&version, h + 4, 2);
  std::memcpy(&client, h + 8, 4);
  std::memcpy(&length, h + 16, 8);
  if (magic != kWireMagic) return error(MalformedUpload::kNone, "magic", "bad magic (not an flbench payload)");
  if (version != kWireVersion)
    return error(client, "version", "wire version " + std::to_string(version) + ", expected " + std::to_string(kWireVersion));
  if (length < kHeaderBytes || length > left)
    return error(client, "length", "payload of client " + std::to_string(client) + " claims " + std::to_string(length) +
                                       " bytes, " + std::to_string(left) + " remain");
  return std::nullopt;
}

}  // namespace

std::vector<UploadView> split_uploads(const uint8_t* data, size_t size, int rank,
                                      std::optional<MalformedUpload>* broken) {
  std::vector<UploadView> out;
  broken->reset();
  for (size_t pos = 0; pos < size;) {
    const uint8_t* h = data + pos;
    *broken = broken_header(h, size - pos, "rank " + std::to_string(rank) + ", byte " + std::to_string(pos));
    if (*broken) return out;
    uint32_t client;
    uint64_t length;
    std::memcpy(&client, h + 8, 4);
    std::memcpy(&length, h + 16, 8);
    out.push_back({client, h, static_cast<size_t>(length), pos});
    pos += static_cast<size_t>(length);
  }
  return out;
}

std::vector<UploadView> split_uploads(const uint8_t* data, size_t size, int rank) {
  std::optional<MalformedUpload> broken;
  std::vector<UploadView> out = split_uploads(data, size, rank, &broken);
  if (broken) throw *broken;
  return out;
}

}  // namespace flb::compress
