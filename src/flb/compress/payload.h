// A payload is what one client uploads or what the server broadcasts: a
// list of parts, each about one tensor of the algorithm's tensor list.
//
//   dense   numel values, in order
//   sparse  sorted distinct positions in [0, numel) and one value each
//   scalar  a few values that stand for the tensor (LBGM's rho, say)
//
// Host-side plain vectors: this is the unit the wire format encodes and
// the transport moves; algorithms convert to and from tensors.
#pragma once

#include <cstdint>
#include <vector>

namespace flb::compress {

enum class PartKind : uint8_t { kDense = 1, kSparse = 2, kScalar = 3 };

struct Part {
  PartKind kind = PartKind::kDense;
  uint8_t tag = 0;                 // algorithm-defined meaning (e.g. which factor)
  uint32_t tensor = 0;             // index into the algorithm's tensor list
  uint64_t numel = 0;              // elements of the full tensor
  std::vector<uint32_t> indices;   // sparse only: ascending, distinct, < numel
  std::vector<float> values;       // dense: numel; sparse: indices.size(); scalar: >= 1
};

struct Payload {
  uint16_t algorithm = 0;          // wire id of the algorithm that made it
  uint32_t client = 0;             // client id (uploads); 0xffffffff for the server
  std::vector<Part> parts;
};

constexpr uint32_t kServerId = 0xffffffffu;

}  // namespace flb::compress
