// The fuzz targets without libFuzzer: runs each file given (a directory:
// every file in it, sorted) through LLVMFuzzerTestOneInput once. ctest
// replays the seed corpora and every kept crasher this way in the
// ordinary and sanitizer builds (tests/fuzz/README.md), so a fixed
// finding stays fixed without clang.
//
//   fuzz_replay_<target> PATH...
// Exit 0 when every input passed (a failing one aborts), 2 when a path is
// missing or holds no file.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH... (files or directories of fuzz inputs)\n", argv[0]);
    return 2;
  }
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(argv[i], ec)) {
      for (const fs::directory_entry& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file() && e.path().filename().string()[0] != '.') files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else if (fs::is_regular_file(argv[i], ec)) {
      files.push_back(argv[i]);
    }
    if (files.empty()) {
      std::fprintf(stderr, "%s: error: %s is not a file or a directory with files\n", argv[0], argv[i]);
      return 2;
    }
    for (const fs::path& f : files) {
      const std::vector<uint8_t> bytes = flb::fuzz::read_bytes(f.string());
      std::fprintf(stderr, "replay %s (%zu bytes)\n", f.c_str(), bytes.size());
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++replayed;
    }
  }
  std::printf("%s: %zu inputs replayed, all passed\n", argv[0], replayed);
  return 0;
}
