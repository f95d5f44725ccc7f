// The bytes that cross MPI. Little-endian.
//
//   header  magic "FLB1" u32 | version u16 | algorithm u16 | client u32 | parts u32
//   part    kind u8 | encoding u8 | tag u8 | 0 u8 | tensor u32 | numel u64 | count u64
//           data: dense    count f32
//                 index    count u32 positions, then count f32
//                 bitmap   ceil(numel/8) bytes (bit i%8 of byte i/8), then count f32
//                 scalar   count f32
//
// A sparse part takes whichever of index list and bitmap is smaller.
// decode() trusts nothing: every length, kind, tensor index, position and
// value is checked before it is used, so a malformed buffer throws
// flb::Error naming the client and the part and never reads or writes out
// of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "flb/compress/payload.h"

namespace flb::compress {

constexpr uint32_t kWireMagic = 0x31424C46;  // "FLB1"
constexpr uint16_t kWireVersion = 1;

// Appends the encoding of `p` to `out`. REQUIRES: p is well formed.
void encode(const Payload& p, std::vector<uint8_t>& out);
std::vector<uint8_t> encode(const Payload& p);

// Exact size encode() will produce, without encoding.
size_t encoded_size(const Payload& p);

// What decode() checks the payload against.
struct WireSchema {
  uint16_t algorithm = 0;              // must match the header
  std::vector<uint64_t> tensor_numel;  // numel of every tensor a part may name
};

// Decodes exactly `size` bytes sent by `expected_client` (kServerId for a
// broadcast); the header's client id must match it, and every error names
// it ("client 17: part 3: position 901 out of range [0, 784)").
Payload decode(const uint8_t* data, size_t size, const WireSchema& schema, uint32_t expected_client);

}  // namespace flb::compress
