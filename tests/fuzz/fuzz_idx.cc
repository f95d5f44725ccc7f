// Fuzz target: data::read_idx on a file of the input's bytes.
//
// The first byte picks the path through the reader: even, the rest is a
// plain .idx file; odd, it is written gzip-compressed (zlib) as .idx.gz,
// so the IDX checks also run behind the decompressor. (Corrupt gzip data
// comes from inputs whose compressed bytes are cut: a first byte of
// 4k + 3 keeps only the first half of the compressed file.)
//
// Property beyond "no crash": what it returns is a rank 1..4 array whose
// dimensions multiply to the number of values.
#include <zlib.h>

#include <vector>

#include "flb/core/error.h"
#include "flb/data/idx.h"
#include "fuzz_check.h"

namespace {

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream z{};
  flb::fuzz::check(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
  std::vector<uint8_t> out(deflateBound(&z, size) + 32);
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  flb::fuzz::check(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flb::fuzz::InputFile plain(".idx"), compressed(".idx.gz");
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string path;
  if (mode % 2 == 0) {
    path = plain.write(data + 1, size - 1);
  } else {
    std::vector<uint8_t> z = gzip(data + 1, size - 1);
    if (mode % 4 == 3) z.resize(z.size() / 2);
    path = compressed.write(z.data(), z.size());
  }
  try {
    const flb::data::IdxArray a = flb::data::read_idx(path);
    uint64_t count = 1;
    for (int64_t d : a.dims) count *= static_cast<uint64_t>(d);
    flb::fuzz::check(!a.dims.empty() && a.dims.size() <= 4, "IDX rank outside 1..4");
    flb::fuzz::check(count == a.values.size(), "IDX dimensions do not multiply to the value count");
  } catch (const flb::Error&) {
  }
  return 0;
}
