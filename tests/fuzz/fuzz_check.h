// What the fuzz targets share: a property check that aborts (a libFuzzer
// finding) with a message, and a file that holds the input for the
// readers that open a path (IDX, safetensors, token shards, tokenizer.json,
// TOML configs).
//
// Every target feeds its input to one reader and lets through only the
// errors that reader's contract names (flb::Error and its subclasses,
// CLI11's and the config's parse errors). Any other exception escapes the
// target, and libFuzzer reports it as a crash: a reader that throws
// std::out_of_range or c10::Error on a bad file breaks the rule that bad
// input gets a clear error.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace flb::fuzz {

// Aborts with `what` unless `ok`: a property of the reader failed.
inline void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property failed: %s\n", what);
  std::abort();
}

// The whole file at `path` (empty when it cannot be read).
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file in $TMPDIR (or /tmp) named flb-fuzz-<pid><suffix>, rewritten with
// each input and removed at exit.
class InputFile {
 public:
  explicit InputFile(const std::string& suffix) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/flb-fuzz-" + std::to_string(getpid()) + suffix;
  }
  ~InputFile() { std::remove(path_.c_str()); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // Writes data[0, size) to the file and returns its path.
  const std::string& write(const uint8_t* data, size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    check(f != nullptr, "cannot create the input file in $TMPDIR");
    const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
    check(std::fclose(f) == 0 && ok, "cannot write the input file in $TMPDIR");
    return path_;
  }

 private:
  std::string path_;
};

}  // namespace flb::fuzz
