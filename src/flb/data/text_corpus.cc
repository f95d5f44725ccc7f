#include "flb/data/text_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::data {
namespace fs = std::filesystem;
namespace {

std::string read_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), what + ": cannot open " + path.string() + " for reading");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  require(!in.bad(), what + ": read error in " + path.string());
  return bytes.str();
}

bool blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Splits fortune-format text on lines that are exactly "%" (or "%\r").
void split_documents(const std::string& text, std::vector<std::string>& out) {
  std::string doc;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    end = end == std::string::npos ? text.size() : end + 1;  // the line with its '\n'
    const std::string_view line(text.data() + pos, end - pos);
    if (line == "%" || line == "%\n" || line == "%\r" || line == "%\r\n") {
      if (!blank(doc)) out.push_back(std::move(doc));
      doc.clear();
    } else {
      doc.append(line);
    }
    pos = end;
  }
  if (!blank(doc)) out.push_back(std::move(doc));
}

// FNV-1a: a stable 64-bit key for a domain name (std::hash is not stable
// across library versions).
uint64_t name_key(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

void append_document(const std::string& doc, std::vector<uint8_t>& stream) {
  stream.insert(stream.end(), doc.begin(), doc.end());
  stream.push_back(kDocumentEnd);
}

}  // namespace

std::vector<std::string> read_documents(const std::string& path, const std::string& what) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  require(fs::exists(status), what + ": " + path + " does not exist (build the corpora with scripts/make-corpora.sh, "
                                                    "or pass --corpus-dir DIR holding one directory per domain)");
  std::vector<fs::path> files;
  if (fs::is_directory(status)) {
    for (const fs::directory_entry& e : fs::directory_iterator(path)) {
      if (e.path().filename().string().rfind('.', 0) == 0) continue;
      if (e.is_regular_file()) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    require(fs::is_regular_file(status), what + ": " + path + " is neither a regular file nor a directory");
    files.push_back(path);
  }
  std::vector<std::string> docs;
  for (const fs::path& f : files) split_documents(read_file(f, what), docs);
  return docs;
}

bool is_heldout(uint64_t seed, const std::string& domain, int64_t index, double fraction) {
  if (fraction <= 0) return false;
  Stream draw(seed, StreamPurpose::kHeldOut, name_key(domain), static_cast<uint64_t>(index));
  return draw.uniform() < fraction;
}

TextDomain load_text_domain(const std::string& name, const std::string& path, double heldout_fraction,
                            uint64_t seed) {
  const std::string what = "text domain '" + name + "'";
  require(heldout_fraction >= 0 && heldout_fraction < 1,
          "--heldout-fraction: " + std::to_string(heldout_fraction) + " is not in [0, 1)");
  const std::vector<std::string> docs = read_documents(path, what);
  require(!docs.empty(), what + ": " + path + " holds no documents (expected text with documents separated by "
                                              "lines holding a single '%'; rebuild with scripts/make-corpora.sh)");
  TextDomain d;
  d.name = name;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (is_heldout(seed, name, static_cast<int64_t>(i), heldout_fraction)) {
      append_document(docs[i], d.heldout);
      ++d.heldout_documents;
    } else {
      append_document(docs[i], d.train);
      ++d.train_documents;
    }
  }
  require(d.train_documents > 0, what + ": all " + std::to_string(docs.size()) +
                                     " documents fell into the held-out set; lower --heldout-fraction");
  return d;
}

std::vector<uint8_t> ChunkTable::chunk_domains() const { return data::chunk_domains(domain_begin); }

std::vector<uint8_t> chunk_domains(const std::vector<int64_t>& domain_begin) {
  std::vector<uint8_t> out(static_cast<size_t>(domain_begin.empty() ? 0 : domain_begin.back()));
  for (size_t d = 0; d + 1 < domain_begin.size(); ++d)
    std::fill(out.begin() + domain_begin[d], out.begin() + domain_begin[d + 1], static_cast<uint8_t>(d));
  return out;
}

int64_t append_domain_chunks(const std::vector<uint8_t>& stream, ChunkTable& table) {
  require(table.chunk_bytes >= 2, "append_domain_chunks: chunk_bytes must be at least 2 (context >= 1)");
  if (table.domain_begin.empty()) table.domain_begin.push_back(0);
  const int64_t n = static_cast<int64_t>(stream.size()) / table.chunk_bytes;
  table.bytes.insert(table.bytes.end(), stream.begin(), stream.begin() + n * table.chunk_bytes);
  table.domain_begin.push_back(table.domain_begin.back() + n);
  return n;
}

TextCorpus load_corpus(const std::vector<std::pair<std::string, std::string>>& domains,
                       const TextCorpusOptions& options) {
  require(!domains.empty(), "--domains: no text domain given (e.g. --domains en,de,es,it)");
  require(domains.size() <= 255, "--domains: " + std::to_string(domains.size()) + " domains; at most 255 are supported");
  require(options.context >= 1, "--context: must be at least 1 byte, got " + std::to_string(options.context));
  std::set<std::string> seen;
  for (const auto& [name, path] : domains) {
    require(!name.empty(), "--domains: empty domain name (check for a stray comma)");
    require(seen.insert(name).second, "--domains: domain '" + name + "' is listed twice");
  }
  TextCorpus c;
  c.context = options.context;
  c.train.chunk_bytes = c.heldout.chunk_bytes = options.context + 1;
  c.train.domain_begin = c.heldout.domain_begin = {0};
  for (const auto& [name, path] : domains) {
    const TextDomain d = load_text_domain(name, path, options.heldout_fraction, options.seed);
    const std::string what = "text domain '" + name + "'";
    const int64_t train = append_domain_chunks(d.train, c.train);
    require(train > 0, what + ": its " + std::to_string(d.train.size()) + " training bytes make no chunk of " +
                           std::to_string(c.train.chunk_bytes) + " bytes (context + 1); lower --context");
    const int64_t heldout = append_domain_chunks(d.heldout, c.heldout);
    require(heldout > 0 || options.heldout_fraction == 0,
            what + ": its " + std::to_string(d.heldout.size()) + " held-out bytes make no chunk of " +
                std::to_string(c.heldout.chunk_bytes) + " bytes; raise --heldout-fraction or lower --context");
    c.domains.push_back(name);
    c.train_documents.push_back(d.train_documents);
    c.heldout_documents.push_back(d.heldout_documents);
  }
  return c;
}

TextCorpus load_corpus(const std::string& dir, const std::vector<std::string>& domains,
                       const TextCorpusOptions& options) {
  std::vector<std::pair<std::string, std::string>> paths;
  for (const std::string& name : domains) paths.emplace_back(name, (fs::path(dir) / name).string());
  return load_corpus(paths, options);
}

}  // namespace flb::data
