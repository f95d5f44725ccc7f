// Fuzz target: text::BpeTokenizer::encode and decode on arbitrary bytes,
// with two fixed byte-level tokenizers: GPT-2's pre-tokenizer regex, and
// Llama 3's (a second pattern, ignore_merges). The first input byte picks
// the tokenizer (bit 0) and whether added tokens are matched (bit 1).
//
// Properties beyond "no crash": every id is in the vocabulary, and
// decode(encode(text)) is sanitize_utf8(text), the input with each invalid
// UTF-8 sequence replaced by U+FFFD, which is itself valid and unchanged
// by a second sanitize_utf8.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flb/text/bpe_tokenizer.h"
#include "fuzz_check.h"

namespace flb::text {
namespace {

// Llama 3's pre-tokenizer (its tokenizer.json's Split pattern).
const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

BpeTokenizer make(bool llama3) {
  BpeParts parts;
  for (int b = 0; b < 256; ++b) parts.vocab.emplace_back(byte_to_unicode(static_cast<uint8_t>(b)), b);
  // Merges (lowest rank first); "Ġ" is the space byte, "Ã" "©" the bytes of "é".
  const std::pair<const char*, const char*> merges[] = {{"\xC4\xA0", "t"}, {"h", "e"}, {"\xC4\xA0t", "he"},
                                                        {"i", "n"},        {"\xC4\xA0", "a"}, {"e", "r"},
                                                        {"\xC3\x83", "\xC2\xA9"}, {"1", "2"}, {"12", "3"}};
  uint32_t id = 256;
  for (const auto& [a, b] : merges) {
    parts.merges.emplace_back(a, b);
    parts.vocab.emplace_back(std::string(a) + b, id++);
  }
  parts.added = {{"<|endoftext|>", 300, true}, {"<|end|>", 301, true}, {"<|e", 302, false}};
  if (llama3) {
    parts.patterns = {kLlama3Pattern};
    parts.ignore_merges = true;
  }
  return BpeTokenizer::from_parts(std::move(parts), llama3 ? "fuzz llama3" : "fuzz gpt2");
}

}  // namespace
}  // namespace flb::text

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flb::text;
  using flb::fuzz::check;
  static BpeTokenizer tokenizers[2] = {make(false), make(true)};
  if (size == 0) return 0;
  BpeTokenizer& t = tokenizers[data[0] & 1];
  const bool added = data[0] & 2;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string clean = sanitize_utf8(text);
  check(sanitize_utf8(clean) == clean, "sanitize_utf8 is not idempotent");
  const std::vector<uint32_t> ids = t.encode(text, added);
  for (uint32_t id : ids) check(id < t.vocab_size(), "an id outside the vocabulary");
  check(t.decode(ids) == clean, "decode(encode(text)) differs from sanitize_utf8(text)");
  return 0;
}
