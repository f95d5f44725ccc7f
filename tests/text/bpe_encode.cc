// flb_bpe_encode: flbench's BPE tokenizer on a file of documents, for
// compare_gpt2_reference.py.
//
//   flb_bpe_encode TOKENIZER DOCS [--added-tokens]
//
// DOCS is a sequence of (uint32 little-endian byte length, bytes) records;
// stdout gets one line per document: its ids, space-separated. Added
// tokens are off unless --added-tokens (the reference encoder has none).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "flb/core/error.h"
#include "flb/text/bpe_tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: flb_bpe_encode TOKENIZER DOCS [--added-tokens]\n";
    return 2;
  }
  const bool added = argc > 3 && std::strcmp(argv[3], "--added-tokens") == 0;
  try {
    flb::text::BpeTokenizer tok = flb::text::BpeTokenizer::load(argv[1]);
    std::ifstream in(argv[2], std::ios::binary);
    flb::require(static_cast<bool>(in), std::string(argv[2]) + ": cannot open");
    std::string out;
    for (;;) {
      uint32_t n = 0;
      if (!in.read(reinterpret_cast<char*>(&n), 4)) break;
      std::string doc(n, '\0');
      flb::require(static_cast<bool>(in.read(doc.data(), n)), std::string(argv[2]) + ": truncated record");
      out.clear();
      for (uint32_t id : tok.encode(doc, added)) {
        if (!out.empty()) out += ' ';
        out += std::to_string(id);
      }
      out += '\n';
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
  } catch (const flb::Error& e) {
    std::cerr << "flb_bpe_encode: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
