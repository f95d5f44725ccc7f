// A payload is what one client uploads or what the server broadcasts: a
// list of parts, each about one tensor of the algorithm's tensor list.
//
//   dense   numel values, in flat (row-major) order
//   sparse  sorted distinct positions in [0, numel) and one value each
//   scalar  a few values that stand for the tensor (LBGM's rho, say)
//
// Parts are tensor-backed: `values` is a 1-D contiguous float32 tensor on
// the device that produced it (the client's training device; the host for
// a decoded payload), `indices` (sparse only) a 1-D contiguous int32
// tensor on the same device holding the uint32 positions' bits. encode()
// (wire_format.h) writes the bytes straight from their storage; decode()
// returns parts whose tensors view the received buffer where alignment
// allows (read-only: never write through a decoded part's tensors).
//
// Ownership: a part made by the builders in algo/tensor_parts.h may share
// storage with the tensor it was made from (a dense part of `local - global`
// is that temporary, reshaped): do not modify that tensor in place before
// the payload is encoded.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace flb::compress {

enum class PartKind : uint8_t { kDense = 1, kSparse = 2, kScalar = 3 };

struct Part {
  PartKind kind = PartKind::kDense;
  uint8_t tag = 0;        // algorithm-defined meaning (e.g. which factor)
  uint32_t tensor = 0;    // index into the algorithm's tensor list
  uint64_t numel = 0;     // elements of the full tensor
  torch::Tensor indices;  // sparse only: int32 (uint32 bits), ascending, distinct, < numel
  torch::Tensor values;   // float32; dense: numel; sparse: indices.numel(); scalar: >= 1

  // Number of values (0 when `values` is undefined).
  uint64_t count() const { return values.defined() ? static_cast<uint64_t>(values.numel()) : 0; }
};

struct Payload {
  uint16_t algorithm = 0;  // wire id of the algorithm that made it
  uint32_t client = 0;     // client id (uploads); 0xffffffff for the server
  std::vector<Part> parts;
};

constexpr uint32_t kServerId = 0xffffffffu;

// A scalar part of `values` (host float32) for `tensor` of `numel` elements.
Part scalar_part(uint32_t tensor, uint64_t numel, const std::vector<float>& values, uint8_t tag = 0);

// Host copies of a part's values / positions (tests, diagnostics).
std::vector<float> values_of(const Part& part);
std::vector<uint32_t> indices_of(const Part& part);

// Value i of the part, as float (a device read for a GPU part).
float value_at(const Part& part, int64_t i);

}  // namespace flb::compress
