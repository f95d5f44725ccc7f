#include "tokenize.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "flb/core/error.h"
#include "flb/data/text_corpus.h"
#include "flb/data/token_shard.h"
#include "flb/text/bpe_tokenizer.h"

namespace flbench {
namespace fs = std::filesystem;

namespace {

// (name, path) of every domain under `dir`: its subdirectories, sorted, or
// `dir` itself when it has none.
std::vector<std::pair<std::string, std::string>> find_domains(const std::string& dir) {
  std::error_code ec;
  flb::require(fs::is_directory(dir, ec), "--text-dir " + dir + ": not a directory (give a directory of domains, "
                                          "e.g. scripts/make-corpora.sh's output, or a directory of text files)");
  std::vector<std::pair<std::string, std::string>> domains;
  for (const fs::directory_entry& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory()) continue;
    domains.emplace_back(name, e.path().string());
  }
  std::sort(domains.begin(), domains.end());
  if (domains.empty()) {
    std::string name = fs::path(dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::path(dir).lexically_normal().parent_path().filename().string();
    domains.emplace_back(name.empty() ? "text" : name, dir);
  }
  return domains;
}

}  // namespace

void tokenize_domains(const TokenizeOptions& o) {
  flb::require(o.val_fraction >= 0 && o.val_fraction < 1,
               "--val-fraction " + std::to_string(o.val_fraction) + ": must be in [0, 1)");
  const auto domains = find_domains(o.text_dir);
  std::error_code ec;
  if (fs::exists(o.out, ec)) {
    flb::require(fs::is_directory(o.out, ec), "--out " + o.out + ": exists and is not a directory");
    flb::require(o.overwrite || fs::is_empty(o.out, ec),
                 "--out " + o.out + ": exists and is not empty: pass --overwrite to replace its shards, or another --out");
  }
  flb::text::BpeTokenizer tok = flb::text::BpeTokenizer::load(o.tokenizer);
  std::vector<uint32_t> separator;
  if (o.document_token.empty()) {
    const auto eot = tok.end_of_text();
    flb::require(eot.has_value(), tok.source() + ": no end-of-text token (<|endoftext|>, <|end_of_text|>, </s>) to "
                                                 "separate documents: pass --document-token TOKEN or --document-token none");
    separator.push_back(*eot);
  } else if (o.document_token != "none") {
    const auto id = tok.token_id(o.document_token);
    flb::require(id.has_value(), "--document-token " + o.document_token + ": not a token of " + tok.source());
    separator.push_back(*id);
  }
  const int version = flb::data::token_shard_version(tok.vocab_size());
  std::printf("tokenize: %s (%lld ids, shard version %d) on %zu domain%s of %s -> %s\n", tok.source().c_str(),
              static_cast<long long>(tok.vocab_size()), version, domains.size(), domains.size() == 1 ? "" : "s",
              o.text_dir.c_str(), o.out.c_str());
  std::fflush(stdout);
  int64_t total_bytes = 0, total_tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t d = 0; d < domains.size(); ++d) {
    const auto& [name, path] = domains[d];
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::string> docs = flb::data::read_documents(path, "text domain '" + name + "'");
    flb::require(!docs.empty(), "text domain '" + name + "' (" + path + "): no documents");
    std::vector<uint32_t> train, val;
    int64_t train_docs = 0, val_docs = 0, bytes = 0;
    for (size_t i = 0; i < docs.size(); ++i) {
      const bool held = flb::data::is_heldout(o.seed, name, static_cast<int64_t>(i), o.val_fraction);
      std::vector<uint32_t>& into = held ? val : train;
      (held ? val_docs : train_docs) += 1;
      into.insert(into.end(), separator.begin(), separator.end());
      const std::vector<uint32_t> ids = tok.encode(docs[i], /*added_tokens=*/false);
      into.insert(into.end(), ids.begin(), ids.end());
      bytes += static_cast<int64_t>(docs[i].size());
    }
    flb::require(train_docs > 0, "text domain '" + name + "': every document fell held-out: lower --val-fraction");
    flb::require(o.val_fraction == 0 || val_docs > 0, "text domain '" + name + "': " + std::to_string(docs.size()) +
                                                          " documents, none held out: raise --val-fraction or add text");
    const fs::path dir = fs::path(o.out) / name;
    fs::create_directories(dir, ec);
    flb::require(!ec, dir.string() + ": cannot create: " + ec.message());
    flb::data::write_token_shard((dir / "train.bin").string(), train, version);
    flb::data::write_token_shard((dir / "val.bin").string(), val, version);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("tokenize: [%zu/%zu] %-14s %7lld documents (%lld train, %lld val), %10lld bytes -> %9zu + %8zu tokens "
                "(%.2f bytes/token), %.1f MB/s\n",
                d + 1, domains.size(), name.c_str(), static_cast<long long>(docs.size()),
                static_cast<long long>(train_docs), static_cast<long long>(val_docs), static_cast<long long>(bytes),
                train.size(), val.size(), static_cast<double>(bytes) / std::max<size_t>(1, train.size() + val.size()),
                bytes / 1e6 / std::max(s, 1e-9));
    std::fflush(stdout);
    total_bytes += bytes;
    total_tokens += static_cast<int64_t>(train.size() + val.size());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("tokenize: done: %lld bytes -> %lld tokens in %.1f s -> %s/<domain>/{train,val}.bin\n",
              static_cast<long long>(total_bytes), static_cast<long long>(total_tokens), s, o.out.c_str());
}

}  // namespace flbench
