// A rank's uploads for one round travel as one buffer of frames:
//
//   frame  client u32 | 0 u32 | length u64 | payload (length bytes)
//
// so rank 0 can tell whose bytes are whose before decoding any of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "flb/compress/payload.h"

namespace flb::sim {

constexpr size_t kFrameHeaderBytes = 16;

// Appends a frame holding the wire encoding of `payload`; returns the
// payload's encoded size (the client's upload bytes).
size_t append_frame(std::vector<uint8_t>& buffer, uint32_t client, const compress::Payload& payload);

struct Frame {
  uint32_t client = 0;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Splits `rank`'s buffer into frames. Throws flb::Error naming the rank
// when a frame header is truncated or its length overruns the buffer.
std::vector<Frame> split_frames(const uint8_t* data, size_t size, int rank);

}  // namespace flb::sim
