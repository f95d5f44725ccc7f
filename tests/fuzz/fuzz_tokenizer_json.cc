// Fuzz target: text::BpeTokenizer::from_tokenizer_json on a file of the
// input's bytes (JSON parsing and every field check of bpe_tokenizer.h),
// then encoding a fixed sample with what loaded.
//
// Properties beyond "no crash": a tokenizer that loads and encodes the
// sample (a vocabulary that is not byte-level may refuse with flb::Error)
// gives ids below vocab_size() that decode back to the sample.
#include <string>
#include <vector>

#include "flb/core/error.h"
#include "flb/text/bpe_tokenizer.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using flb::fuzz::check;
  static flb::fuzz::InputFile file("-tokenizer.json");
  const std::string& path = file.write(data, size);
  static const std::string samples[] = {"abc ab aa", "Hello, world! 123 <|end|> caf\xC3\xA9\n\n  x"};
  try {
    flb::text::BpeTokenizer t = flb::text::BpeTokenizer::from_tokenizer_json(path);
    for (const std::string& s : samples) {
      std::vector<uint32_t> ids;
      try {
        ids = t.encode(s);
      } catch (const flb::Error&) {
        continue;  // a byte or word without a token
      }
      for (uint32_t id : ids) check(id < t.vocab_size(), "an id outside the vocabulary");
      check(t.decode(ids) == s, "decode(encode(sample)) differs from the sample");
    }
  } catch (const flb::Error&) {
  }
  return 0;
}
