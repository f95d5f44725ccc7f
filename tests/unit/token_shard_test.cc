#include "flb/data/token_shard.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "flb/core/error.h"

namespace flb::data {
namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "flb_token_shard_" + name; }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
}

// A header of (magic, version, count) followed by `body`.
std::string shard_bytes(int32_t magic, int32_t version, int32_t count, const std::string& body) {
  std::string b(1024, '\0');
  std::memcpy(&b[0], &magic, 4);
  std::memcpy(&b[4], &version, 4);
  std::memcpy(&b[8], &count, 4);
  return b + body;
}

// Expects TokenShard::open to throw an flb::Error whose message holds the
// file's path and `fragment`.
void expect_open_error(const std::string& path, const std::string& fragment, int64_t vocab = 0) {
  try {
    TokenShard::open(path, vocab);
    FAIL() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TokenShard, VersionFollowsVocabularySize) {
  EXPECT_EQ(token_shard_version(50257), 1);
  EXPECT_EQ(token_shard_version(65536), 1);
  EXPECT_EQ(token_shard_version(65537), 2);
  EXPECT_EQ(token_shard_version(128256), 2);
}

TEST(TokenShard, RoundTripVersion1) {
  const std::vector<uint32_t> tokens = {50256, 0, 1, 65535, 15496, 995};
  const std::string p = temp_path("v1.bin");
  write_token_shard(p, tokens, 1);
  const std::string bytes = read_bytes(p);
  ASSERT_EQ(bytes.size(), 1024u + 2 * tokens.size());  // llm.c's layout: 256 int32, then uint16
  int32_t header[3];
  std::memcpy(header, bytes.data(), sizeof header);
  EXPECT_EQ(header[0], 20240520);
  EXPECT_EQ(header[1], 1);
  EXPECT_EQ(header[2], 6);
  const TokenShard s = TokenShard::open(p, 65536);
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.size(), 6);
  EXPECT_EQ(s.tokens(), tokens);
  EXPECT_EQ(s[3], 65535u);
  EXPECT_EQ(s.tokens(4, 2), (std::vector<uint32_t>{15496, 995}));
}

TEST(TokenShard, RoundTripVersion2) {
  const std::vector<uint32_t> tokens = {128000, 65536, 0, 151643, 7};
  const std::string p = temp_path("v2.bin");
  write_token_shard(p, tokens, 2);
  EXPECT_EQ(read_bytes(p).size(), 1024u + 4 * tokens.size());
  const TokenShard s = TokenShard::open(p, 151646);
  EXPECT_EQ(s.version(), 2);
  EXPECT_EQ(s.tokens(), tokens);
}

TEST(TokenShard, EmptyShardRoundTrips) {
  const std::string p = temp_path("empty.bin");
  write_token_shard(p, {}, 1);
  const TokenShard s = TokenShard::open(p);
  EXPECT_EQ(s.size(), 0);
  EXPECT_TRUE(s.tokens().empty());
}

TEST(TokenShard, Version1RefusesAWideToken) {
  EXPECT_THROW(write_token_shard(temp_path("wide.bin"), {1, 70000}, 1), Error);
  EXPECT_THROW(write_token_shard(temp_path("bad_version.bin"), {1}, 3), Error);
}

TEST(TokenShard, MissingFileIsAnError) { expect_open_error(temp_path("does_not_exist.bin"), "cannot open"); }

TEST(TokenShard, TruncatedHeaderIsAnError) {
  const std::string p = temp_path("short_header.bin");
  write_bytes(p, shard_bytes(kTokenShardMagic, 1, 0, "").substr(0, 500));
  expect_open_error(p, "truncated");
  write_bytes(p, "");
  expect_open_error(p, "truncated");
}

TEST(TokenShard, BadMagicIsAnError) {
  const std::string p = temp_path("magic.bin");
  write_bytes(p, shard_bytes(20240519, 1, 0, ""));
  expect_open_error(p, "magic 20240519");
}

TEST(TokenShard, BadVersionIsAnError) {
  const std::string p = temp_path("version.bin");
  write_bytes(p, shard_bytes(kTokenShardMagic, 3, 0, ""));
  expect_open_error(p, "version 3");
}

TEST(TokenShard, CountDisagreeingWithSizeIsAnError) {
  const std::string p = temp_path("count.bin");
  write_bytes(p, shard_bytes(kTokenShardMagic, 1, 4, std::string(6, '\1')));  // 3 tokens' bytes, header says 4
  expect_open_error(p, "truncated");
  write_bytes(p, shard_bytes(kTokenShardMagic, 2, 1, std::string(8, '\1')));  // 2 tokens' bytes, header says 1
  expect_open_error(p, "the header says 1 tokens");
  write_bytes(p, shard_bytes(kTokenShardMagic, 1, -1, ""));
  expect_open_error(p, "negative token count");
}

TEST(TokenShard, TokenOutsideTheVocabularyIsAnError) {
  const std::string p = temp_path("vocab.bin");
  write_token_shard(p, {1, 2, 50257, 3}, 1);
  expect_open_error(p, "token 50257 at position 2", 50257);
  EXPECT_NO_THROW(TokenShard::open(p, 50258));
  EXPECT_NO_THROW(TokenShard::open(p));  // no vocabulary given: no check
}

}  // namespace
}  // namespace flb::data
