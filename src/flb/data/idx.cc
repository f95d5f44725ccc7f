#include "flb/data/idx.h"

#include <zlib.h>

#include <cstdio>

#include "flb/core/error.h"

namespace flb::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The whole file, decompressed. gzread also reads plain files verbatim, but
// for a ".gz" name we insist the content really is gzip so that a truncated
// download is reported rather than parsed.
std::vector<uint8_t> read_all(const std::string& path) {
  std::FILE* probe = std::fopen(path.c_str(), "rb");
  require(probe != nullptr, path + ": cannot open (does it exist? pass --data-dir, or run scripts/install-deps.sh)");
  std::fclose(probe);
  gzFile f = gzopen(path.c_str(), "rb");
  require(f != nullptr, path + ": cannot open");
  if (ends_with(path, ".gz")) {
    const bool plain = gzdirect(f) == 1;
    if (plain) {
      gzclose(f);
      throw Error(path + ": not a gzip file although its name ends in .gz");
    }
  }
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      const std::string msg = gzerror(f, &code);
      gzclose(f);
      throw Error(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  int code = 0;
  const char* msg = gzerror(f, &code);
  const std::string err = msg ? msg : "";
  gzclose(f);
  require(code == Z_OK || code == Z_STREAM_END, path + ": corrupt or truncated gzip data (" + err + ")");
  return out;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_all(path);
  require(bytes.size() >= 4, path + ": too short for an IDX header (" + std::to_string(bytes.size()) + " bytes)");
  // Magic: two zero bytes, the element type, the number of dimensions.
  require(bytes[0] == 0 && bytes[1] == 0, path + ": bad IDX magic number (not an IDX file)");
  require(bytes[2] == 0x08, path + ": IDX element type " + std::to_string(bytes[2]) +
                                " is not unsigned byte (0x08)");
  const int rank = bytes[3];
  require(rank >= 1 && rank <= 4, path + ": IDX rank " + std::to_string(rank) + " is not in 1..4");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  require(bytes.size() >= header, path + ": truncated IDX header");
  IdxArray a;
  uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const uint32_t d = big_endian_u32(&bytes[4 + 4 * i]);
    require(d > 0 && d < (1u << 28), path + ": implausible IDX dimension " + std::to_string(d));
    a.dims.push_back(d);
    count *= d;
    require(count < (uint64_t{1} << 36), path + ": IDX array too large");
  }
  const uint64_t have = bytes.size() - header;
  require(have == count, path + ": IDX header promises " + std::to_string(count) + " values but the file holds " +
                             std::to_string(have) + (have < count ? " (truncated file?)" : " (trailing bytes)"));
  a.values.assign(bytes.begin() + static_cast<long>(header), bytes.end());
  return a;
}

}  // namespace flb::data
