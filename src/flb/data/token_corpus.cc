#include "flb/data/token_corpus.h"

#include <filesystem>
#include <set>

#include "flb/core/error.h"
#include "flb/data/token_shard.h"

namespace flb::data {
namespace fs = std::filesystem;
namespace {

// Appends the windows of `path` to `table` and closes a domain.
void append_shard(const std::string& what, const fs::path& path, int64_t vocab_size, TokenChunks& table) {
  require(fs::is_regular_file(path), what + ": " + path.string() +
                                         " does not exist (make the token domains with `flbench tokenize "
                                         "--tokenizer MODEL_DIR --out TOKEN_DIR ...`)");
  const TokenShard shard = TokenShard::open(path.string(), vocab_size);
  const int64_t n = shard.size() / table.chunk_tokens;
  require(n > 0, what + ": " + path.string() + " holds " + std::to_string(shard.size()) +
                     " tokens, not one window of " + std::to_string(table.chunk_tokens) +
                     " (--context + 1); lower --context");
  const std::vector<uint32_t> tokens = shard.tokens(0, n * table.chunk_tokens);
  table.tokens.insert(table.tokens.end(), tokens.begin(), tokens.end());  // < vocab_size <= int32 max
  table.domain_begin.push_back(table.domain_begin.back() + n);
}

}  // namespace

TokenCorpus load_token_corpus(const std::string& dir, const std::vector<std::string>& domains, int64_t context,
                              int64_t vocab_size, bool with_train) {
  require(!domains.empty(), "--domains: no token domain given (directories under --token-dir, e.g. --domains de,es)");
  require(domains.size() <= 255, "--domains: " + std::to_string(domains.size()) + " domains; at most 255 are supported");
  require(context >= 1, "--context: must be at least 1 token, got " + std::to_string(context));
  require(vocab_size >= 1 && vocab_size <= INT32_MAX, "load_token_corpus: vocab_size out of range");
  require(!dir.empty() && fs::is_directory(dir), "--token-dir: '" + dir +
                                                     "' is not a directory (make one with `flbench tokenize "
                                                     "--tokenizer MODEL_DIR --out DIR ...`, then pass --token-dir DIR)");
  std::set<std::string> seen;
  for (const std::string& name : domains) {
    require(!name.empty(), "--domains: empty domain name (check for a stray comma)");
    require(seen.insert(name).second, "--domains: domain '" + name + "' is listed twice");
    require(fs::is_directory(fs::path(dir) / name), "--domains: token domain '" + name + "': " +
                                                        (fs::path(dir) / name).string() +
                                                        " is not a directory (the domains under --token-dir are what "
                                                        "`flbench tokenize` wrote)");
  }
  TokenCorpus c;
  c.context = context;
  c.train.chunk_tokens = c.val.chunk_tokens = context + 1;
  c.train.domain_begin = c.val.domain_begin = {0};
  for (const std::string& name : domains) {
    const std::string what = "token domain '" + name + "'";
    if (with_train) {
      append_shard(what, fs::path(dir) / name / "train.bin", vocab_size, c.train);
    } else {
      c.train.domain_begin.push_back(c.train.domain_begin.back());
    }
    append_shard(what, fs::path(dir) / name / "val.bin", vocab_size, c.val);
    c.domains.push_back(name);
  }
  return c;
}

}  // namespace flb::data
