#include "flb/data/token_shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "flb/core/error.h"

namespace flb::data {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards are little-endian; this host is not");

int64_t token_bytes(int version) { return version == 1 ? 2 : 4; }

}  // namespace

int token_shard_version(int64_t vocab_size) { return vocab_size <= 65536 ? 1 : 2; }

void write_token_shard(const std::string& path, const std::vector<uint32_t>& tokens, int version) {
  require(version == 1 || version == 2, path + ": token shard version " + std::to_string(version) + " (expected 1 or 2)");
  require(tokens.size() <= 0x7FFFFFFFu, path + ": " + std::to_string(tokens.size()) +
                                            " tokens do not fit one shard (at most 2^31 - 1): split the domain");
  int32_t header[256] = {};
  header[0] = kTokenShardMagic;
  header[1] = version;
  header[2] = static_cast<int32_t>(tokens.size());
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  require(f != nullptr, tmp + ": cannot create: " + std::strerror(errno));
  bool ok = std::fwrite(header, sizeof header, 1, f) == 1;
  if (version == 1) {
    std::vector<uint16_t> narrow(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] > 0xFFFF) {
        std::fclose(f);
        std::remove(tmp.c_str());
        throw Error(path + ": token " + std::to_string(tokens[i]) + " at " + std::to_string(i) +
                    " does not fit version 1 (uint16): write version 2");
      }
      narrow[i] = static_cast<uint16_t>(tokens[i]);
    }
    // An empty vector's data() may be null, which fwrite must not get.
    ok = ok && (narrow.empty() || std::fwrite(narrow.data(), 2, narrow.size(), f) == narrow.size());
  } else {
    ok = ok && (tokens.empty() || std::fwrite(tokens.data(), 4, tokens.size(), f) == tokens.size());
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    throw Error(path + ": writing the token shard failed: " + why);
  }
}

TokenShard TokenShard::open(const std::string& path, int64_t vocab_size) {
  TokenShard s;
  s.path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY);
  require(fd >= 0, path + ": cannot open the token shard: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw Error(path + ": cannot stat the token shard");
  }
  const int64_t bytes = st.st_size;
  if (bytes > 0) {
    void* map = ::mmap(nullptr, static_cast<size_t>(bytes), PROT_READ, MAP_PRIVATE, fd, 0);
    const int mmap_errno = errno;
    ::close(fd);
    require(map != MAP_FAILED, path + ": cannot memory-map the token shard: " + std::strerror(mmap_errno));
    s.map_ = map;
    s.map_bytes_ = static_cast<size_t>(bytes);
  } else {
    ::close(fd);
  }
  require(bytes >= kTokenShardHeaderBytes, path + ": truncated token shard: " + std::to_string(bytes) +
                                               " bytes, shorter than the 1024-byte header");
  int32_t header[3];
  std::memcpy(header, s.map_, sizeof header);
  require(header[0] == kTokenShardMagic, path + ": not a token shard: magic " + std::to_string(header[0]) +
                                             ", expected " + std::to_string(kTokenShardMagic) + " (llm.c format)");
  require(header[1] == 1 || header[1] == 2,
          path + ": token shard version " + std::to_string(header[1]) + ", expected 1 (uint16) or 2 (uint32)");
  require(header[2] >= 0, path + ": negative token count " + std::to_string(header[2]));
  s.version_ = header[1];
  s.count_ = header[2];
  const int64_t expected = kTokenShardHeaderBytes + s.count_ * token_bytes(s.version_);
  require(bytes == expected, path + ": the header says " + std::to_string(s.count_) + " tokens (" +
                                 std::to_string(expected) + " bytes) but the file has " + std::to_string(bytes) +
                                 " bytes" + (bytes < expected ? ": truncated" : ""));
  s.data_ = static_cast<const unsigned char*>(s.map_) + kTokenShardHeaderBytes;
  if (vocab_size > 0) {
    for (int64_t i = 0; i < s.count_; ++i) {
      const uint32_t t = s[i];
      require(t < static_cast<uint64_t>(vocab_size), path + ": token " + std::to_string(t) + " at position " +
                                                         std::to_string(i) + " is outside the vocabulary (" +
                                                         std::to_string(vocab_size) + " ids): wrong tokenizer?");
    }
  }
  return s;
}

TokenShard::TokenShard(TokenShard&& o) noexcept { *this = std::move(o); }

TokenShard& TokenShard::operator=(TokenShard&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_bytes_);
    path_ = std::move(o.path_);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    data_ = std::exchange(o.data_, nullptr);
    version_ = o.version_;
    count_ = o.count_;
  }
  return *this;
}

TokenShard::~TokenShard() {
  if (map_) ::munmap(map_, map_bytes_);
}

uint32_t TokenShard::operator[](int64_t i) const {
  if (version_ == 1) {
    uint16_t t;
    std::memcpy(&t, data_ + 2 * i, 2);
    return t;
  }
  uint32_t t;
  std::memcpy(&t, data_ + 4 * i, 4);
  return t;
}

std::vector<uint32_t> TokenShard::tokens(int64_t begin, int64_t n) const {
  std::vector<uint32_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[i] = (*this)[begin + i];
  return out;
}

}  // namespace flb::data
