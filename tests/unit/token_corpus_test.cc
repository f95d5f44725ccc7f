#include "flb/data/token_corpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "flb/core/error.h"
#include "flb/data/token_shard.h"

namespace flb::data {
namespace {

namespace fs = std::filesystem;

// dir/<name>/train.bin and val.bin with tokens (i * step) % 50.
std::string make_domains(const std::string& tag, const std::vector<std::pair<std::string, int64_t>>& domains,
                         int64_t val_tokens) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("flb_token_corpus_" + tag);
  fs::remove_all(dir);
  int64_t step = 1;
  for (const auto& [name, n] : domains) {
    fs::create_directories(dir / name);
    std::vector<uint32_t> train(static_cast<size_t>(n)), val(static_cast<size_t>(val_tokens));
    for (int64_t i = 0; i < n; ++i) train[i] = static_cast<uint32_t>(i * step % 50);
    for (int64_t i = 0; i < val_tokens; ++i) val[i] = static_cast<uint32_t>((i + 7) * step % 50);
    write_token_shard((dir / name / "train.bin").string(), train, 1);
    write_token_shard((dir / name / "val.bin").string(), val, 1);
    ++step;
  }
  return dir.string();
}

void expect_error(const std::function<void()>& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error, wanted '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TokenCorpus, CutsEachDomainIntoNonOverlappingWindows) {
  const std::string dir = make_domains("windows", {{"a", 100}, {"b", 53}}, 40);
  const TokenCorpus c = load_token_corpus(dir, {"b", "a"}, 9, 50, true);
  EXPECT_EQ(c.domains, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(c.train.chunk_tokens, 10);
  EXPECT_EQ(c.train.domain_begin, (std::vector<int64_t>{0, 5, 15}));  // 53 / 10, 100 / 10: tails dropped
  EXPECT_EQ(c.val.domain_begin, (std::vector<int64_t>{0, 4, 8}));
  ASSERT_EQ(c.train.tokens.size(), 150u);
  // Window 5 (the first of "a", step 1) is tokens 0..9; window 1 of "b" (step 2) is 20, 22, ...
  for (int t = 0; t < 10; ++t) EXPECT_EQ(c.train.tokens[5 * 10 + t], t);
  for (int t = 0; t < 10; ++t) EXPECT_EQ(c.train.tokens[1 * 10 + t], (10 + t) * 2 % 50);
}

TEST(TokenCorpus, WithoutTrainLoadsOnlyTheValWindows) {
  const std::string dir = make_domains("val_only", {{"a", 100}}, 30);
  const TokenCorpus c = load_token_corpus(dir, {"a"}, 4, 50, false);
  EXPECT_EQ(c.train.domain_begin, (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(c.val.domain_begin, (std::vector<int64_t>{0, 6}));
}

TEST(TokenCorpus, BadInputIsAnErrorNamingWhatToDo) {
  const std::string dir = make_domains("errors", {{"a", 100}}, 30);
  expect_error([&] { load_token_corpus(dir + "/nope", {"a"}, 4, 50, true); }, "--token-dir");
  expect_error([&] { load_token_corpus(dir, {"a", "zz"}, 4, 50, true); }, "token domain 'zz'");
  expect_error([&] { load_token_corpus(dir, {"a", "a"}, 4, 50, true); }, "listed twice");
  expect_error([&] { load_token_corpus(dir, {"a"}, 4, 40, true); }, "outside the vocabulary");
  expect_error([&] { load_token_corpus(dir, {"a"}, 30, 50, true); }, "lower --context");
  expect_error([&] { load_token_corpus(dir, {}, 4, 50, true); }, "--domains");
  fs::remove(fs::path(dir) / "a" / "val.bin");
  expect_error([&] { load_token_corpus(dir, {"a"}, 4, 50, true); }, "flbench tokenize");
}

}  // namespace
}  // namespace flb::data
