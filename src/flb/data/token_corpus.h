// Token domains for language-model fine-tuning (--dataset tokens): the
// token analogue of text_corpus.h's byte domains.
//
// Domain `name` is the directory `dir`/`name` holding train.bin and val.bin,
// llm.c token shards (token_shard.h; `flbench tokenize` writes them). Each
// shard is cut into non-overlapping windows of context + 1 tokens (the
// partial tail is dropped): window i is tokens [i (T+1), (i+1) (T+1)), input
// = window[0..T), target = window[1..T]. train.bin's windows are what
// clients own (partition_chunks of text_partition.h splits them by domain
// offsets); val.bin's are the held-out evaluation.
//
// Tokens are copied into int32 tables (4 bytes per token: a real run's
// train.bin is held in memory once per rank).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace flb::data {

// Windows of one split (train or val) of every domain, back to back.
struct TokenChunks {
  int64_t chunk_tokens = 0;           // context + 1
  std::vector<int32_t> tokens;        // count() * chunk_tokens; window i at [i * chunk_tokens, (i + 1) * chunk_tokens)
  std::vector<int64_t> domain_begin;  // domains + 1 offsets: domain d owns windows [domain_begin[d], domain_begin[d + 1])

  int64_t count() const { return domain_begin.empty() ? 0 : domain_begin.back(); }
  int64_t domain_count(int64_t d) const { return domain_begin[d + 1] - domain_begin[d]; }
};

struct TokenCorpus {
  int64_t context = 0;
  std::vector<std::string> domains;  // names; index = domain id
  TokenChunks train;                 // empty domains when loaded without train (evaluation only)
  TokenChunks val;                   // per-domain evaluation windows
};

// Loads `dir`/<name>/val.bin for every name in `domains` (in order: domain
// id = position) and, when `with_train`, `dir`/<name>/train.bin too. Every
// token is checked below `vocab_size` on open. Throws flb::Error naming the
// option or file and what to do: --token-dir missing, a domain directory or
// shard missing (run `flbench tokenize`), a malformed shard, a token >=
// vocab_size, no domain / a repeated one / more than 255, context < 1, or a
// shard too short for one window of context + 1 tokens.
TokenCorpus load_token_corpus(const std::string& dir, const std::vector<std::string>& domains, int64_t context,
                              int64_t vocab_size, bool with_train);

}  // namespace flb::data
