#include "flb/text/bpe_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "flb/core/error.h"

namespace flb::text {
namespace {

using Ids = std::vector<uint32_t>;

// A hand-made byte-level vocabulary ("Ġ" is the space byte) whose answers
// follow by hand from the merge ranks:
//   rank 0: a b -> ab    rank 1: b c -> bc    rank 2: ab c -> abc
//   rank 3: Ġ a -> Ġa    rank 4: a a -> aa
const char* kVocab = R"({"a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "bc": 5, "abc": 6, "\u0120a": 7, "aa": 8})";

std::string temp_dir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "flb_bpe_" + name;
  ::mkdir(d.c_str(), 0755);
  return d;
}

// `s` with its first `from` replaced by `to`.
std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  return at == std::string::npos ? s : s.replace(at, from.size(), to);
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// tokenizer.json around kVocab; `merges` is the JSON list, `extra` more top-level fields.
std::string tokenizer_json(const std::string& merges, const std::string& pre_tokenizer = R"({"type": "ByteLevel",
    "add_prefix_space": false, "trim_offsets": true, "use_regex": true})", const std::string& model_extra = "") {
  return std::string(R"({"version": "1.0", "normalizer": null, "added_tokens": [
      {"id": 9, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
    "pre_tokenizer": )") + pre_tokenizer + R"(, "post_processor": null, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "",
              "fuse_unk": false, "byte_fallback": false)" + model_extra + R"(, "vocab": )" + kVocab +
         R"(, "merges": )" + merges + "}}";
}

const char* kStringMerges = R"(["a b", "b c", "ab c", "\u0120 a", "a a"])";
const char* kPairMerges = R"([["a", "b"], ["b", "c"], ["ab", "c"], ["\u0120", "a"], ["a", "a"]])";

BpeTokenizer load_json(const std::string& name, const std::string& json) {
  const std::string dir = temp_dir(name);
  write(dir + "/tokenizer.json", json);
  return BpeTokenizer::load(dir);
}

// Expects loading `json` to fail with a message naming `field`.
void expect_json_error(const std::string& name, const std::string& json, const std::string& field) {
  try {
    load_json(name, json);
    FAIL() << "no error; expected one naming " << field;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  }
}

TEST(BpeTokenizer, ByteToUnicodeIsGpt2sTable) {
  EXPECT_EQ(byte_to_unicode('a'), "a");
  EXPECT_EQ(byte_to_unicode(' '), "\u0120");   // Ġ
  EXPECT_EQ(byte_to_unicode('\n'), "\u010A");  // Ċ
  EXPECT_EQ(byte_to_unicode(0), "\u0100");
  EXPECT_EQ(byte_to_unicode(0xAD), "\u0143");  // soft hyphen: the last of the remapped bytes
  EXPECT_EQ(byte_to_unicode(0xE9), "\u00E9");  // é maps to itself
}

TEST(BpeTokenizer, MergesByRankNotByPosition) {
  BpeTokenizer t = load_json("rank", tokenizer_json(kStringMerges));
  // a b c: (a,b) rank 0 before (b,c) rank 1, then (ab,c) rank 2. Left to
  // right without ranks would give a + bc.
  EXPECT_EQ(t.encode("abc"), (Ids{6}));
  // " ab" is one pre-token: Ġ a b; (a,b) rank 0 beats (Ġ,a) rank 3, and (Ġ,ab) is no merge.
  EXPECT_EQ(t.encode(" ab"), (Ids{3, 4}));
  // Overlapping pairs of one rank merge leftmost first: aa + a.
  EXPECT_EQ(t.encode("aaa"), (Ids{8, 0}));
  EXPECT_EQ(t.encode("aaaa"), (Ids{8, 8}));
  // Two pre-tokens: "abc" and " abc" (Ġ ab c -> Ġ abc).
  EXPECT_EQ(t.encode("abc abc"), (Ids{6, 3, 6}));
  // "cab": (a,b) only -> c + ab; " a" -> Ġa.
  EXPECT_EQ(t.encode("cab a"), (Ids{2, 4, 7}));
  EXPECT_EQ(t.encode(""), Ids{});
  EXPECT_EQ(t.vocab_size(), 10);
}

TEST(BpeTokenizer, MergesAsPairsEqualMergesAsStrings) {
  BpeTokenizer a = load_json("strings", tokenizer_json(kStringMerges));
  BpeTokenizer b = load_json("pairs", tokenizer_json(kPairMerges));
  for (const char* text : {"abc", " ab", "aaa", "abc abc cab", "  a  b  "}) EXPECT_EQ(a.encode(text), b.encode(text)) << text;
}

TEST(BpeTokenizer, Gpt2FilesGiveTheSameIds) {
  const std::string dir = temp_dir("gpt2");
  write(dir + "/vocab.json", kVocab);
  write(dir + "/merges.txt", "#version: 0.2\na b\nb c\nab c\n\u0120 a\na a\n");
  BpeTokenizer g = BpeTokenizer::load(dir);
  BpeTokenizer j = load_json("gpt2_json", tokenizer_json(kStringMerges));
  for (const char* text : {"abc", " ab", "aaa", "abc abc cab"}) EXPECT_EQ(g.encode(text), j.encode(text)) << text;
  EXPECT_EQ(BpeTokenizer::load(dir + "/vocab.json").encode("abc"), (Ids{6}));
}

TEST(BpeTokenizer, DecodeInvertsEncode) {
  BpeTokenizer t = load_json("decode", tokenizer_json(kStringMerges));
  for (const char* text : {"abc abc", "aaa b c", " cab", "a<|end|>b"})
    EXPECT_EQ(t.decode(t.encode(text)), text) << text;
  EXPECT_EQ(t.decode({9}), "<|end|>");
  EXPECT_THROW(t.decode({10}), Error);
}

TEST(BpeTokenizer, SpecialTokensAreMatchedBeforePreTokenizing) {
  BpeTokenizer t = load_json("special", tokenizer_json(kStringMerges));
  EXPECT_EQ(t.encode("ab<|end|>c"), (Ids{4, 9, 2}));
  EXPECT_EQ(t.encode("<|end|><|end|> a"), (Ids{9, 9, 7}));
  EXPECT_EQ(t.token_id("<|end|>"), 9u);
  EXPECT_FALSE(t.end_of_text().has_value());
  // With added tokens off the text is ordinary, and '<' has no token here.
  try {
    t.encode("ab<|end|>c", /*added_tokens=*/false);
    FAIL() << "no error for a byte without a token";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0x3C"), std::string::npos) << e.what();
  }
}

TEST(BpeTokenizer, SplitPatternFromASequence) {
  // Llama 3's layout: Split(Regex, Isolated) then ByteLevel without its own regex.
  // The pattern splits every character apart, so nothing merges.
  const std::string seq = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";
  BpeTokenizer t = load_json("sequence", tokenizer_json(kStringMerges, seq));
  EXPECT_EQ(t.encode("abc"), (Ids{0, 1, 2}));
  // Gaps between matches are pieces too: "b+" leaves "a" and "c" as their own.
  const std::string gaps = R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "b+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";
  EXPECT_EQ(load_json("gaps", tokenizer_json(kStringMerges, gaps)).encode("abc"), (Ids{0, 1, 2}));
}

TEST(BpeTokenizer, IgnoreMergesTakesWholeWordsFromTheVocabulary) {
  // Merges b c (rank 0) and a a (rank 1) only: no merge makes "abc", but
  // with ignore_merges a word that is in the vocabulary whole is one token.
  BpeTokenizer t = load_json("ignore", tokenizer_json(R"(["b c", "a a"])", R"({"type": "ByteLevel",
      "add_prefix_space": false, "use_regex": true})", R"(, "ignore_merges": true)"));
  EXPECT_EQ(t.encode("abc"), (Ids{6}));     // whole word in the vocabulary, though no merge makes it
  EXPECT_EQ(t.encode("aabc"), (Ids{8, 5}));  // not whole: aa + bc by the merges
}

TEST(BpeTokenizer, InvalidUtf8IsReplaced) {
  EXPECT_EQ(sanitize_utf8("ok"), "ok");
  EXPECT_EQ(sanitize_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xe2\x82"), "\xEF\xBF\xBD");  // a cut sequence: one replacement
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
  EXPECT_EQ(sanitize_utf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");  // valid 4-byte
}

TEST(BpeTokenizer, UnsupportedFieldsAreNamed) {
  expect_json_error("wordpiece", R"({"model": {"type": "WordPiece", "vocab": {}}})", "model.type");
  expect_json_error("dropout", replaced(tokenizer_json(kStringMerges), "\"dropout\": null", "\"dropout\": 0.1"),
                    "model.dropout");
  expect_json_error("prefix", tokenizer_json(kStringMerges, R"({"type": "ByteLevel", "add_prefix_space": true})"),
                    "pre_tokenizer.add_prefix_space");
  expect_json_error("behavior", tokenizer_json(kStringMerges, R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "."}, "behavior": "Removed"}, {"type": "ByteLevel", "use_regex": false}]})"),
                    "pretokenizers[0].behavior");
  expect_json_error("whitespace", tokenizer_json(kStringMerges, R"({"type": "Whitespace"})"), "pre_tokenizer.type");
  expect_json_error("no_bytelevel", tokenizer_json(kStringMerges, R"({"type": "Split", "pattern": {"Regex": "."}})"),
                    "ByteLevel");
  expect_json_error("merge", tokenizer_json(R"(["a b", "x y"])"), "model.merges[1]");
  expect_json_error("merge_form", tokenizer_json(R"(["a b c"])"), "model.merges[0]");
  expect_json_error("regex", tokenizer_json(kStringMerges, R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, {"type": "ByteLevel"}]})"),
                    "does not compile");
  expect_json_error("normalizer",
                    replaced(tokenizer_json(kStringMerges), "\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}"),
                    "normalizer");
  expect_json_error("not_json", "{not json", "not valid JSON");
  // Found by fuzz_tokenizer_json: an added token on a vocabulary token's id
  // (4 is "ab") made "ab" encode to an id that decodes as "<|end|>".
  expect_json_error("added_id", replaced(tokenizer_json(kStringMerges), "\"id\": 9", "\"id\": 4"),
                    "added_tokens: '<|end|>' has id 4, which already stands for 'ab'");
}

TEST(BpeTokenizer, AddedTokenMayRepeatItsVocabularyEntry) {
  // GPT-2's "<|endoftext|>" is both a vocabulary token and an added token.
  const std::string json = replaced(tokenizer_json(kStringMerges), "\"aa\": 8}", "\"aa\": 8, \"<|end|>\": 9}");
  BpeTokenizer t = load_json("added_repeat", json);
  EXPECT_EQ(t.encode("ab<|end|>"), (Ids{4, 9}));
  EXPECT_EQ(t.decode({4, 9}), "ab<|end|>");
}

TEST(BpeTokenizer, MissingFilesAreNamed) {
  const std::string dir = temp_dir("empty");
  try {
    BpeTokenizer::load(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos);
  }
  write(dir + "/vocab.json", kVocab);
  EXPECT_THROW(BpeTokenizer::load(dir + "/vocab.json"), Error);  // no merges.txt beside it
  EXPECT_THROW(BpeTokenizer::load(dir + "/nothing"), Error);
}

}  // namespace
}  // namespace flb::text
