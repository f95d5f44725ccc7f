#include "flb/text/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <queue>
#include <unordered_map>

#include "flb/core/error.h"

namespace flb::text {
namespace {

// ---- GPT-2's byte-to-unicode table (openai/gpt-2 encoder.py bytes_to_unicode)

std::array<uint32_t, 256> make_byte_codepoints() {
  std::array<uint32_t, 256> cp{};
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool visible = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cp[b] = visible ? static_cast<uint32_t>(b) : next++;
  }
  return cp;
}

const std::array<uint32_t, 256>& byte_codepoints() {
  static const std::array<uint32_t, 256> table = make_byte_codepoints();
  return table;
}

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is invalid; for
// an invalid one, *subpart is the length of its maximal valid prefix (>= 1),
// which WHATWG replaces by one U+FFFD.
size_t utf8_sequence(std::string_view s, size_t i, size_t* subpart) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  *subpart = 1;
  if (b0 < 0x80) return 1;
  size_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const uint8_t b = byte(i + k);
    if (b < lo || b > hi) return 0;
    lo = 0x80, hi = 0xBF;
    *subpart = k + 1;
  }
  return need + 1;
}

// The code point of the valid UTF-8 sequence of `len` bytes at s[i].
uint32_t decode_codepoint(std::string_view s, size_t i, size_t len) {
  const auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[k])); };
  if (len == 1) return byte(i);
  uint32_t cp = byte(i) & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (byte(i + k) & 0x3F);
  return cp;
}

// ---- PCRE2

// `pattern` with \s and \S as Unicode's White_Space property, the class
// Python's regex (GPT-2) and Oniguruma (Hugging Face) mean by \s. PCRE2's
// own \s under UCP also matches U+180E MONGOLIAN VOWEL SEPARATOR.
std::string white_space_as_unicode(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    const char c = pattern[++i];
    out += c == 's' ? "\\p{White_Space}" : c == 'S' ? "\\P{White_Space}" : std::string{'\\', c};
  }
  return out;
}

class Regex {
 public:
  Regex(const std::string& source_pattern, const std::string& what) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    const std::string pattern = white_space_as_unicode(source_pattern);
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &code,
                          &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(code, msg, sizeof msg);
      throw Error(what + ": pre-tokenizer regex does not compile with PCRE2 at offset " + std::to_string(offset) +
                  ": " + reinterpret_cast<const char*>(msg));
    }
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
    match_ = pcre2_match_data_create_from_pattern(code_, nullptr);
    context_ = pcre2_match_context_create(nullptr);
    if (jit_) {
      stack_ = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
      pcre2_jit_stack_assign(context_, nullptr, stack_);
    }
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  ~Regex() {
    if (stack_) pcre2_jit_stack_free(stack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(match_);
    pcre2_code_free(code_);
  }

  // Splits s[begin, end) into the matches and the non-empty gaps between
  // them (Hugging Face's Split with behavior "Isolated"), appended to `out`
  // as (begin, end) offsets. REQUIRES: s is valid UTF-8.
  void split(std::string_view s, size_t begin, size_t end, std::vector<std::pair<size_t, size_t>>& out) const {
    const auto subject = reinterpret_cast<PCRE2_SPTR>(s.data() + begin);
    const size_t n = end - begin;
    size_t start = 0, last = 0;
    while (start < n) {
      const int rc = pcre2_match(code_, subject, n, start, PCRE2_NO_UTF_CHECK, match_, context_);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        throw Error(std::string("pre-tokenizer regex failed: ") + reinterpret_cast<const char*>(msg));
      }
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match_);
      if (ov[0] > last) out.emplace_back(begin + last, begin + ov[0]);
      if (ov[1] > ov[0]) {
        out.emplace_back(begin + ov[0], begin + ov[1]);
        last = start = ov[1];
      } else {  // an empty match: step over one character
        start = ov[0] + 1;
        while (start < n && (static_cast<uint8_t>(s[begin + start]) & 0xC0) == 0x80) ++start;
      }
    }
    if (last < n) out.emplace_back(begin + last, end);
  }

 private:
  pcre2_code* code_ = nullptr;
  pcre2_match_data* match_ = nullptr;
  pcre2_match_context* context_ = nullptr;
  pcre2_jit_stack* stack_ = nullptr;
  bool jit_ = false;
};

constexpr uint32_t kNone = UINT32_MAX;

}  // namespace

std::string byte_to_unicode(uint8_t b) {
  std::string s;
  append_utf8(byte_codepoints()[b], s);
  return s;
}

std::string sanitize_utf8(std::string_view text) {
  size_t i = 0, subpart = 0;
  while (i < text.size()) {  // fast path: valid text is returned as it is
    const size_t len = utf8_sequence(text, i, &subpart);
    if (len == 0) break;
    i += len;
  }
  if (i == text.size()) return std::string(text);
  std::string out(text.substr(0, i));
  while (i < text.size()) {
    const size_t len = utf8_sequence(text, i, &subpart);
    if (len) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += subpart;
    }
  }
  return out;
}

struct BpeTokenizer::Impl {
  std::string source;
  std::unordered_map<std::string, uint32_t> vocab;  // token -> id
  struct Merge {
    uint32_t rank, merged;
  };
  std::unordered_map<uint64_t, Merge> merges;  // (left id << 32 | right id) -> rank, merged id
  std::array<uint32_t, 256> byte_id{};         // id of each byte's one-character token, or kNone
  std::vector<std::string> id_bytes;           // decode table; index = id
  std::vector<uint8_t> id_known;               // whether id_bytes[id] is a token
  std::vector<AddedToken> added;
  std::array<std::vector<size_t>, 256> added_by_first;  // indices into `added`, longest first
  std::vector<std::unique_ptr<Regex>> patterns;
  bool ignore_merges = false;
  std::unordered_map<std::string, std::vector<uint32_t>> cache;  // word (raw bytes) -> ids
  std::vector<std::pair<size_t, size_t>> pieces, next_pieces;    // scratch

  static uint64_t key(uint32_t a, uint32_t b) { return (static_cast<uint64_t>(a) << 32) | b; }

  // The ids of one pre-token word (raw bytes): its bytes' symbols merged by
  // rank. A min-heap of (rank, position) over the adjacent pairs merges the
  // lowest-ranked pair first, leftmost first among equal ranks, which is
  // GPT-2's loop (merge every occurrence of the best pair, repeat) without
  // its rescans.
  const std::vector<uint32_t>& word_ids(std::string_view word) {
    auto hit = cache.find(std::string(word));
    if (hit != cache.end()) return hit->second;
    if (cache.size() > (1u << 20)) cache.clear();
    std::vector<uint32_t> ids;
    std::string symbols;
    for (char c : word) symbols += byte_to_unicode(static_cast<uint8_t>(c));
    auto whole = ignore_merges ? vocab.find(symbols) : vocab.end();
    if (whole != vocab.end()) {
      ids.push_back(whole->second);
    } else {
      const size_t n = word.size();
      std::vector<uint32_t> sym(n);
      std::vector<int64_t> prev(n), next(n);
      for (size_t i = 0; i < n; ++i) {
        const uint8_t b = static_cast<uint8_t>(word[i]);
        sym[i] = byte_id[b];
        if (sym[i] == kNone) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02X", b);
          throw Error(source + ": the vocabulary has no token for byte " + hex + " ('" + byte_to_unicode(b) +
                      "'): not a byte-level BPE vocabulary");
        }
        prev[i] = static_cast<int64_t>(i) - 1;
        next[i] = i + 1 < n ? static_cast<int64_t>(i) + 1 : -1;
      }
      struct Candidate {
        uint32_t rank;
        int64_t pos;
        uint32_t left, right;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
      };
      std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
      const auto push = [&](int64_t i) {
        if (i < 0 || next[i] < 0) return;
        auto m = merges.find(key(sym[i], sym[next[i]]));
        if (m != merges.end()) heap.push({m->second.rank, i, sym[i], sym[next[i]]});
      };
      for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int64_t>(i));
      std::vector<uint8_t> alive(n, 1);
      while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        const int64_t i = c.pos, j = next[i];
        if (!alive[i] || j < 0 || sym[i] != c.left || sym[j] != c.right) continue;  // stale
        sym[i] = merges.at(key(c.left, c.right)).merged;
        alive[j] = 0;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        push(prev[i]);
        push(i);
      }
      for (int64_t i = 0; i >= 0 && n > 0; i = next[i]) ids.push_back(sym[i]);
    }
    return cache.emplace(std::string(word), std::move(ids)).first->second;
  }

  // Pre-tokenizes s[begin, end) (no added tokens in it) and appends its ids.
  void encode_segment(std::string_view s, size_t begin, size_t end, std::vector<uint32_t>& out) {
    pieces.clear();
    pieces.emplace_back(begin, end);
    for (const auto& re : patterns) {
      next_pieces.clear();
      for (const auto& [b, e] : pieces) re->split(s, b, e, next_pieces);
      pieces.swap(next_pieces);
    }
    for (const auto& [b, e] : pieces) {
      const std::vector<uint32_t>& ids = word_ids(s.substr(b, e - b));
      out.insert(out.end(), ids.begin(), ids.end());
    }
  }
};

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

BpeTokenizer BpeTokenizer::from_parts(BpeParts parts, const std::string& source, const std::string& merges_field) {
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  impl->ignore_merges = parts.ignore_merges;
  uint32_t max_id = 0;
  for (const auto& [token, id] : parts.vocab) {
    require(impl->vocab.emplace(token, id).second, source + ": token '" + token + "' is in the vocabulary twice");
    max_id = std::max(max_id, id);
  }
  for (const AddedToken& a : parts.added) {
    require(!a.content.empty(), source + ": added_tokens: a token with empty content (id " + std::to_string(a.id) + ")");
    max_id = std::max(max_id, a.id);
  }
  require(max_id < kNone, source + ": token id " + std::to_string(max_id) + " is too large");
  impl->id_bytes.assign(static_cast<size_t>(max_id) + 1, std::string());
  impl->id_known.assign(static_cast<size_t>(max_id) + 1, 0);
  // Decode table: each vocabulary token's characters back through the
  // byte table (a character outside it leaves the id undecodable).
  std::unordered_map<uint32_t, uint8_t> codepoint_byte;
  for (int b = 0; b < 256; ++b) codepoint_byte[byte_codepoints()[b]] = static_cast<uint8_t>(b);
  for (const auto& [token, id] : impl->vocab) {
    require(!impl->id_known[id], source + ": id " + std::to_string(id) + " belongs to two vocabulary tokens");
    std::string bytes;
    bool ok = true;
    size_t subpart = 0;
    for (size_t i = 0; i < token.size() && ok;) {
      const size_t len = utf8_sequence(token, i, &subpart);
      auto b = len ? codepoint_byte.find(decode_codepoint(token, i, len)) : codepoint_byte.end();
      ok = b != codepoint_byte.end();
      if (ok) bytes += static_cast<char>(b->second);
      i += len ? len : subpart;
    }
    if (ok) impl->id_bytes[id] = std::move(bytes);
    impl->id_known[id] = ok ? 1 : 2;  // 2: in the vocabulary, not byte-level
  }
  for (int b = 0; b < 256; ++b) {
    auto it = impl->vocab.find(byte_to_unicode(static_cast<uint8_t>(b)));
    impl->byte_id[b] = it == impl->vocab.end() ? kNone : it->second;
  }
  for (size_t r = 0; r < parts.merges.size(); ++r) {
    const auto& [a, b] = parts.merges[r];
    const std::string where = source + ": " + merges_field + "[" + std::to_string(r) + "] ('" + a + " " + b + "')";
    auto ia = impl->vocab.find(a), ib = impl->vocab.find(b), im = impl->vocab.find(a + b);
    require(ia != impl->vocab.end(), where + ": '" + a + "' is not in the vocabulary");
    require(ib != impl->vocab.end(), where + ": '" + b + "' is not in the vocabulary");
    require(im != impl->vocab.end(), where + ": '" + a + b + "' is not in the vocabulary");
    // A repeated merge takes its last rank, as GPT-2's dict(zip(merges, range)) does.
    impl->merges[Impl::key(ia->second, ib->second)] = {static_cast<uint32_t>(r), im->second};
  }
  impl->added = std::move(parts.added);
  for (size_t k = 0; k < impl->added.size(); ++k) {
    const AddedToken& a = impl->added[k];
    // An added token may repeat a vocabulary token (GPT-2's "<|endoftext|>"
    // is both) but not give its id other bytes: the ids would not decode
    // to the text they encode.
    require(impl->id_known[a.id] != 1 || impl->id_bytes[a.id] == a.content,
            source + ": added_tokens: '" + a.content + "' has id " + std::to_string(a.id) +
                ", which already stands for '" + impl->id_bytes[a.id] + "'");
    impl->added_by_first[static_cast<uint8_t>(a.content[0])].push_back(k);
    impl->id_bytes[a.id] = a.content;
    impl->id_known[a.id] = 1;
  }
  for (auto& list : impl->added_by_first)
    std::stable_sort(list.begin(), list.end(), [&](size_t x, size_t y) {
      return impl->added[x].content.size() > impl->added[y].content.size();
    });
  for (const std::string& p : parts.patterns) impl->patterns.push_back(std::make_unique<Regex>(p, source));
  return BpeTokenizer(std::move(impl));
}

std::vector<uint32_t> BpeTokenizer::encode(std::string_view raw, bool added_tokens) {
  const std::string text = sanitize_utf8(raw);
  const std::string_view s(text);
  std::vector<uint32_t> out;
  out.reserve(s.size() / 3 + 1);
  size_t segment = 0;
  for (size_t i = 0; added_tokens && i < s.size();) {
    const AddedToken* found = nullptr;
    for (size_t k : impl_->added_by_first[static_cast<uint8_t>(s[i])]) {
      const AddedToken& a = impl_->added[k];
      if (s.compare(i, a.content.size(), a.content) == 0) {
        found = &a;
        break;
      }
    }
    if (!found) {
      ++i;
      continue;
    }
    if (i > segment) impl_->encode_segment(s, segment, i, out);
    out.push_back(found->id);
    i += found->content.size();
    segment = i;
  }
  if (segment < s.size()) impl_->encode_segment(s, segment, s.size(), out);
  return out;
}

std::string BpeTokenizer::decode(const std::vector<uint32_t>& ids) const {
  std::string out;
  for (uint32_t id : ids) {
    require(id < impl_->id_known.size() && impl_->id_known[id] != 0,
            impl_->source + ": decode: id " + std::to_string(id) + " is not in the vocabulary");
    require(impl_->id_known[id] == 1, impl_->source + ": decode: token " + std::to_string(id) +
                                          " has characters outside the byte-level table");
    out += impl_->id_bytes[id];
  }
  return out;
}

int64_t BpeTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_known.size()); }

std::optional<uint32_t> BpeTokenizer::token_id(const std::string& token) const {
  for (const AddedToken& a : impl_->added)
    if (a.content == token) return a.id;
  auto it = impl_->vocab.find(token);
  if (it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

std::optional<uint32_t> BpeTokenizer::end_of_text() const {
  for (const char* t : {"<|endoftext|>", "<|end_of_text|>", "</s>"})
    for (const AddedToken& a : impl_->added)
      if (a.content == t) return a.id;
  return std::nullopt;
}

const std::string& BpeTokenizer::source() const { return impl_->source; }

}  // namespace flb::text
