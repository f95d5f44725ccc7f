// The bytes that cross MPI. Little-endian. Wire version 2.
//
//   header  magic "FLB1" u32 | version u16 (= 2) | algorithm u16 | client u32 | parts u32 | length u64
//           (24 bytes; length: the whole payload's bytes, this header included)
//   part    kind u8 | encoding u8 | tag u8 | 0 u8 | tensor u32 | numel u64 | count u64
//           data: dense    count f32
//                 index    count u32 positions, then count f32
//                 bitmap   ceil(numel/8) bytes (bit i%8 of byte i/8), then count f32
//                 scalar   count f32
//
// A sparse part takes whichever of index list and bitmap is smaller (the
// index list on a tie). A rank's uploads for one round are its payloads
// concatenated: the header's client id and length are the framing
// (split_uploads). Version 1 had a 16-byte header without the length and
// wrapped every upload in a 16-byte frame (client, length): an upload now
// costs 24 + parts bytes where it cost 16 + 16 + parts gathered (8 fewer),
// and the payload itself is 8 bytes longer (24 + parts against 16 + parts).
//
// decode() trusts nothing: every length, kind, tensor index, position and
// value is checked before it is used, then the parts against the
// algorithm's WireSchema (which tensors are sent, how, how often), so a
// malformed buffer throws flb::MalformedUpload naming the client, the part
// and the field, and never reads or writes out of bounds. Algorithm code
// only ever sees payloads that passed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "flb/compress/malformed_upload.h"
#include "flb/compress/payload.h"

namespace flb::compress {

constexpr uint32_t kWireMagic = 0x31424C46;  // "FLB1"
constexpr uint16_t kWireVersion = 2;
constexpr size_t kHeaderBytes = 24;
constexpr size_t kPartHeaderBytes = 24;

// Exact size encode() will produce, without encoding.
size_t encoded_size(const Payload& p);

// The size of a payload of `tensors` dense parts holding `values` float32
// values in all: the header, a part header each, 4 bytes a value.
constexpr uint64_t dense_encoded_size(size_t tensors, uint64_t values) {
  return kHeaderBytes + kPartHeaderBytes * tensors + 4 * values;
}

// Writes the encoding of `p` to dst[0, encoded_size(p)): the header, then
// each part's bytes copied once, straight from its tensors' storage (a
// device tensor is copied device -> host directly into dst). Returns the
// bytes written. REQUIRES: dst holds encoded_size(p) bytes; p is well formed
// (float32 contiguous values, int32 contiguous ascending indices); throws
// flb::Error on a part that is not.
size_t encode_into(const Payload& p, uint8_t* dst);

// Appends the encoding of `p` to `out`; returns the bytes appended.
size_t encode(const Payload& p, std::vector<uint8_t>& out);
std::vector<uint8_t> encode(const Payload& p);

// Appends the encoding of the payload {algorithm, client, one dense part
// per tensor: part k = a[k] - b[k], tensor k, tag 0} to `out`, writing each
// difference straight into the buffer: the same bytes as encode() of that
// payload, without a temporary tensor per part and its copy (FedAvg's and
// FedIT's uploads). Returns the bytes appended.
// REQUIRES: a[k] and b[k] have the same numel and device, float32 values.
size_t append_dense_differences(uint16_t algorithm, uint32_t client, const std::vector<torch::Tensor>& a,
                                const std::vector<torch::Tensor>& b, std::vector<uint8_t>& out);

// Which part kinds a tensor's part may have: a bit set of 1 << PartKind.
enum KindSet : uint8_t {
  kNoKind = 0,
  kDenseOnly = 1u << static_cast<int>(PartKind::kDense),
  kSparseOnly = 1u << static_cast<int>(PartKind::kSparse),
  kScalarOnly = 1u << static_cast<int>(PartKind::kScalar),
  kDenseOrSparse = kDenseOnly | kSparseOnly,
  kAnyKind = kDenseOnly | kSparseOnly | kScalarOnly,
};

enum class Presence : uint8_t {
  kExactlyOnce,  // every payload has exactly one part for the tensor
  kAtMostOnce,   // zero or one part
  kNever,        // the tensor is never sent (frozen, or private to the client)
};

// The rule for one tensor of the algorithm's list.
struct TensorRule {
  uint64_t numel = 0;              // elements of the tensor
  uint8_t kinds = kDenseOrSparse;  // KindSet: allowed part kinds
  Presence presence = Presence::kExactlyOnce;
  uint64_t scalar_values = 0;      // a scalar part's value count; 0: any >= 1
};

// What decode() checks a payload against: one rule per tensor of the list.
struct WireSchema {
  uint16_t algorithm = 0;  // must match the header
  std::vector<TensorRule> tensors;

  // Every tensor with the same rule.
  static WireSchema uniform(uint16_t algorithm, const std::vector<uint64_t>& numel, uint8_t kinds = kDenseOrSparse,
                            Presence presence = Presence::kExactlyOnce);
};

// Decodes exactly `size` bytes sent by `expected_client` (kServerId for a
// broadcast); the header's client id and length must match, and every
// error is a MalformedUpload naming the client ("client 17: malformed
// payload: part 3 (positions): position 901 out of range [0, 784)").
//
// The parts' tensors are host float32 / int32 tensors that VIEW data[]
// where it is 4-byte aligned (dense values, index lists, the values after
// an index list) and are copies otherwise (positions decoded from a bitmap,
// values after a bitmap of odd length). Lifetime: when `owner` is null,
// REQUIRES the buffer outlives every tensor of the returned payload (copy
// with .clone() what must live longer); otherwise each viewing tensor
// holds a reference to `owner`, which keeps the buffer alive.
Payload decode(const uint8_t* data, size_t size, const WireSchema& schema, uint32_t expected_client,
               std::shared_ptr<const void> owner = nullptr);

// One payload inside a rank's buffer of concatenated payloads.
struct UploadView {
  uint32_t client = 0;         // the header's client id (decode() checks the rest)
  const uint8_t* data = nullptr;
  size_t size = 0;             // the header's length
  size_t offset = 0;           // where it starts in the rank's buffer
};

// Splits the buffer `rank` sent (its payloads concatenated) into payloads
// by reading each header's magic, version, client and length. Throws
// MalformedUpload naming the rank and the byte offset when a header is
// truncated or wrong or a length overruns the buffer; a broken buffer
// cannot be resynchronised, so nothing after the error is returned.
std::vector<UploadView> split_uploads(const uint8_t* data, size_t size, int rank);

// The same, except that a broken header ends the split instead of
// throwing: returns the whole uploads before it and stores the error in
// *broken (left empty when the buffer splits whole). For --on-bad-upload
// skip, which keeps a rank's uploads before the break.
std::vector<UploadView> split_uploads(const uint8_t* data, size_t size, int rank,
                                      std::optional<MalformedUpload>* broken);

}  // namespace flb::compress
