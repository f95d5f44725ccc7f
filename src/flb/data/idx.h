// IDX files (the MNIST / Fashion-MNIST container), plain or gzip-compressed.
//
// read_idx() validates everything it reads: magic number, element type,
// rank, dimensions against the bytes present, and trailing garbage. A bad
// file throws flb::Error naming the file and the problem.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::data {

struct IdxArray {
  std::vector<int64_t> dims;     // e.g. {60000, 28, 28}
  std::vector<uint8_t> values;   // row-major, unsigned bytes (type 0x08)
};

// Reads `path`; a name ending in ".gz" is decompressed with zlib.
IdxArray read_idx(const std::string& path);

}  // namespace flb::data
