// flbench tokenize: text domains -> llm.c token shards (data/token_shard.h).
//
//   flbench tokenize --tokenizer DIR_OR_FILE --text-dir DIR --out DIR
//
// --text-dir holds one subdirectory per domain (scripts/make-corpora.sh's
// layout) or is itself one domain, a directory of text files. Documents are
// read as data::read_documents reads them (fortune format: `%` lines
// separate documents; a file without one is one document). Each document is
// preceded by the document token (llm.c's convention: the end-of-text token
// before every document); the text itself is encoded with added tokens off,
// so a literal "<|endoftext|>" in it stays text. A document goes to val.bin
// when data::is_heldout(seed, domain, index, val_fraction), else to
// train.bin: the same split as the byte-level `--dataset text`. Output:
// OUT/<domain>/train.bin and val.bin, shard version 1 for vocabularies up to
// 65,536 ids, else 2.
#pragma once

#include <cstdint>
#include <string>

namespace flbench {

struct TokenizeOptions {
  std::string tokenizer;       // tokenizer.json, vocab.json + merges.txt, or a directory holding them
  std::string text_dir;        // domains
  std::string out;             // OUT/<domain>/{train,val}.bin
  double val_fraction = 0.1;   // of each domain's documents; 0: empty val.bin
  uint64_t seed = 1;           // of the train/val split
  std::string document_token;  // "": the tokenizer's end-of-text token; "none": no separator
  bool overwrite = false;      // replace shards in an existing --out
};

// Tokenizes every domain, printing one progress line per domain to stdout.
// Throws flb::Error for a missing or malformed input, an existing --out
// without overwrite, or a domain with no training (or, when val_fraction > 0,
// no held-out) document.
void tokenize_domains(const TokenizeOptions& options);

}  // namespace flbench
