#include "flb/sim/upload_frames.h"

#include <cstring>
#include <string>

#include "flb/compress/wire_format.h"
#include "flb/core/error.h"

namespace flb::sim {

size_t append_frame(std::vector<uint8_t>& buffer, uint32_t client, const compress::Payload& payload) {
  const size_t at = buffer.size();
  buffer.resize(at + kFrameHeaderBytes);
  compress::encode(payload, buffer);
  const uint64_t length = buffer.size() - at - kFrameHeaderBytes;
  const uint32_t zero = 0;
  std::memcpy(buffer.data() + at, &client, 4);
  std::memcpy(buffer.data() + at + 4, &zero, 4);
  std::memcpy(buffer.data() + at + 8, &length, 8);
  return static_cast<size_t>(length);
}

std::vector<Frame> split_frames(const uint8_t* data, size_t size, int rank) {
  std::vector<Frame> frames;
  size_t pos = 0;
  while (pos < size) {
    require(size - pos >= kFrameHeaderBytes,
            "rank " + std::to_string(rank) + ": truncated upload frame header at byte " + std::to_string(pos));
    Frame f;
    uint64_t length = 0;
    std::memcpy(&f.client, data + pos, 4);
    std::memcpy(&length, data + pos + 8, 8);
    pos += kFrameHeaderBytes;
    require(length <= size - pos, "rank " + std::to_string(rank) + ": upload frame of client " + std::to_string(f.client) +
                                      " claims " + std::to_string(length) + " bytes, " + std::to_string(size - pos) + " remain");
    f.data = data + pos;
    f.size = static_cast<size_t>(length);
    pos += f.size;
    frames.push_back(f);
  }
  return frames;
}

}  // namespace flb::sim
