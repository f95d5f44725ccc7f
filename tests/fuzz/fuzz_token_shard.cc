// Fuzz target: data::TokenShard::open on a file of the input's bytes.
//
// The first byte picks the vocabulary the shard is checked against
// (0: none; else 2^(b % 24) ids), so the token bound is exercised too.
//
// Properties beyond "no crash": a shard that opens has exactly
// 1024 + N * (2 or 4) bytes, and every token it returns is below the
// vocabulary size; reading all tokens touches every byte of the mapping.
#include <vector>

#include "flb/core/error.h"
#include "flb/data/token_shard.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flb::fuzz::InputFile file(".bin");
  if (size == 0) return 0;
  const int64_t vocab = data[0] == 0 ? 0 : int64_t{1} << (data[0] % 24);
  const std::string& path = file.write(data + 1, size - 1);
  try {
    const flb::data::TokenShard shard = flb::data::TokenShard::open(path, vocab);
    const int64_t width = shard.version() == 1 ? 2 : 4;
    flb::fuzz::check(shard.version() == 1 || shard.version() == 2, "a shard of an unknown version opened");
    flb::fuzz::check(static_cast<int64_t>(size - 1) == flb::data::kTokenShardHeaderBytes + shard.size() * width,
                     "the token count disagrees with the file size");
    const std::vector<uint32_t> tokens = shard.tokens();
    flb::fuzz::check(static_cast<int64_t>(tokens.size()) == shard.size(), "tokens() returned another count");
    for (size_t i = 0; i < tokens.size(); ++i) {
      flb::fuzz::check(vocab == 0 || tokens[i] < vocab, "a token at or above the vocabulary size");
      flb::fuzz::check(tokens[i] == shard[static_cast<int64_t>(i)], "operator[] and tokens() disagree");
    }
  } catch (const flb::Error&) {
  }
  return 0;
}
