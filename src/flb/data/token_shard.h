// Token shards in llm.c's format: the training and held-out input of
// `--dataset tokens` (one directory per domain with train.bin and val.bin),
// written by `flbench tokenize`.
//
//   header   256 x int32, little-endian:
//              [0] magic 20240520
//              [1] version: 1 = uint16 tokens, 2 = uint32 tokens
//              [2] token count N (so at most 2^31 - 1 tokens per shard)
//              [3..255] zero
//   tokens   N x uint16 (version 1) or N x uint32 (version 2), little-endian
//
// The file is exactly 1024 + N * (2 or 4) bytes. Writers pick version 1 when
// the vocabulary has at most 65,536 ids (GPT-2, 50,257) and version 2 above
// (Llama 3, 128,256; Qwen2, 151,646), as llm.c's dev/data scripts do.
// No LibTorch here: the tokenizer tools link this file alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace flb::data {

inline constexpr int32_t kTokenShardMagic = 20240520;
inline constexpr int64_t kTokenShardHeaderBytes = 256 * 4;

// The version a vocabulary of `vocab_size` ids needs: 1 up to 65,536, else 2.
int token_shard_version(int64_t vocab_size);

// Writes `tokens` to `path` (through `path`.tmp and a rename, so a reader
// never sees half a file) in `version` 1 or 2.
// REQUIRES: tokens.size() < 2^31; with version 1 every token < 65,536.
// Throws flb::Error naming the file when a requirement fails or a write does.
void write_token_shard(const std::string& path, const std::vector<uint32_t>& tokens, int version);

// A shard opened for reading: memory-mapped, checked on open.
class TokenShard {
 public:
  // Maps `path` and checks it: a header (1024 bytes) is there, the magic and
  // version are right, the count agrees with the file size, and, when
  // vocab_size > 0, every token is below it. Throws flb::Error naming the
  // file and what is wrong otherwise.
  static TokenShard open(const std::string& path, int64_t vocab_size = 0);

  TokenShard(TokenShard&& other) noexcept;
  TokenShard& operator=(TokenShard&& other) noexcept;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;
  ~TokenShard();

  int version() const { return version_; }
  int64_t size() const { return count_; }
  // REQUIRES: 0 <= i < size().
  uint32_t operator[](int64_t i) const;
  // Tokens [begin, begin + n) as uint32. REQUIRES: the range is inside.
  std::vector<uint32_t> tokens(int64_t begin, int64_t n) const;
  std::vector<uint32_t> tokens() const { return tokens(0, count_); }
  const std::string& path() const { return path_; }

 private:
  TokenShard() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  const unsigned char* data_ = nullptr;  // first token
  int version_ = 0;
  int64_t count_ = 0;
};

}  // namespace flb::data
