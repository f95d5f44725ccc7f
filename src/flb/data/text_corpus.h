// Multi-domain byte-level text for language-model fine-tuning.
//
// A domain is a file or a directory of files in fortune format: documents
// separated by lines holding a single `%` (scripts/make-corpora.sh writes
// them; docs/text-data.md lists the domains). Bytes are tokens: no
// vocabulary, no decoding, any encoding is fine.
//
// Each document goes to the held-out or the training set by a hash of
// (seed, domain name, document index), so the split is a pure function of
// the data and the seed. Each set is one byte stream (documents back to
// back, each followed by kDocumentEnd) cut into non-overlapping chunks of
// context + 1 bytes; a chunk is the unit that clients own and batches are
// made of (input = chunk[0..T), target = chunk[1..T]).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flb::data {

// Follows every document in a stream: ASCII RS (record separator), a byte
// that plain text does not contain, so the model can learn where documents
// end without confusing it with a blank line.
inline constexpr uint8_t kDocumentEnd = 0x1E;

// The documents of `path`, in order: a regular file, or every regular file
// directly in a directory, sorted by name (names starting with '.' are
// skipped). A document is the bytes between `%` lines ("%\r" also counts),
// its line ends included; documents of only whitespace are dropped.
// Throws flb::Error when `path` is missing or unreadable. `what` names the
// path in messages (e.g. "text domain 'de'").
std::vector<std::string> read_documents(const std::string& path, const std::string& what);

// Whether document `index` of domain `domain` is held out: a uniform draw
// from Stream(seed, kHeldOut, hash(domain), index) below `fraction`. Raising
// the fraction only moves documents from training to held-out.
bool is_heldout(uint64_t seed, const std::string& domain, int64_t index, double fraction);

struct TextDomain {
  std::string name;
  std::vector<uint8_t> train;    // training documents, each followed by kDocumentEnd
  std::vector<uint8_t> heldout;  // held-out documents, same format
  int64_t train_documents = 0;
  int64_t heldout_documents = 0;
};

// Reads the documents of `path` (see read_documents) and splits them.
// REQUIRES: 0 <= heldout_fraction < 1. Throws flb::Error for a missing path,
// a domain without documents, or one whose documents all fall held-out.
TextDomain load_text_domain(const std::string& name, const std::string& path, double heldout_fraction,
                            uint64_t seed);

// Chunks of one set (train or held-out) of every domain, back to back.
struct ChunkTable {
  int64_t chunk_bytes = 0;            // context + 1
  std::vector<uint8_t> bytes;         // count() * chunk_bytes; chunk i at [i * chunk_bytes, (i + 1) * chunk_bytes)
  std::vector<int64_t> domain_begin;  // domains + 1 offsets: domain d owns chunks [domain_begin[d], domain_begin[d + 1])

  int64_t count() const { return domain_begin.empty() ? 0 : domain_begin.back(); }
  int64_t domain_count(int64_t d) const { return domain_begin[d + 1] - domain_begin[d]; }
  // The domain of every chunk (the label partitioners split by).
  std::vector<uint8_t> chunk_domains() const;
};

// The domain of every chunk [0, domain_begin.back()): chunk i belongs to
// domain d when domain_begin[d] <= i < domain_begin[d + 1].
std::vector<uint8_t> chunk_domains(const std::vector<int64_t>& domain_begin);

// Appends floor(stream.size() / chunk_bytes) chunks of `stream` to `table`
// (the partial tail is dropped) and closes a domain. Returns the count.
int64_t append_domain_chunks(const std::vector<uint8_t>& stream, ChunkTable& table);

struct TextCorpusOptions {
  int64_t context = 128;          // T: input length; chunks are T + 1 bytes
  double heldout_fraction = 0.1;  // of each domain's documents
  uint64_t seed = 1;
};

struct TextCorpus {
  int64_t context = 0;
  std::vector<std::string> domains;  // names; index = domain id
  std::vector<int64_t> train_documents, heldout_documents;  // per domain
  ChunkTable train;                  // chunk ids into this table are what clients own
  ChunkTable heldout;                // per-domain evaluation chunks
};

// Loads (name, path) domains in the given order (domain id = position).
// Throws flb::Error for no domains, more than 255, a repeated name, a bad
// option, or a domain with no training chunk (or, when heldout_fraction > 0,
// no held-out chunk): the message names the domain and what to change.
TextCorpus load_corpus(const std::vector<std::pair<std::string, std::string>>& domains,
                       const TextCorpusOptions& options);

// The same with domain `name` at `dir`/`name` (--corpus-dir, --domains);
// a missing one suggests scripts/make-corpora.sh.
TextCorpus load_corpus(const std::string& dir, const std::vector<std::string>& domains,
                       const TextCorpusOptions& options);

}  // namespace flb::data
