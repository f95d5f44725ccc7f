#include "flb/sim/hostile_upload.h"

#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <limits>

#include "flb/compress/wire_format.h"
#include "flb/core/error.h"
#include "flb/core/hook_value.h"
#include "flb/sim/placement.h"

namespace flb::sim {
namespace {

HostileUpload g_armed;  // set once before the rounds

// Wire offsets (compress/wire_format.h).
constexpr size_t kVersionAt = 4, kAlgorithmAt = 6, kClientAt = 8, kPartsAt = 12, kLengthAt = 16;
constexpr size_t kPartEncodingAt = 1, kPartTensorAt = 4, kPartNumelAt = 8, kPartCountAt = 16;
constexpr uint8_t kIndexEncoding = 1, kBitmapEncoding = 2;

template <typename T>
T read_at(const std::vector<uint8_t>& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

template <typename T>
void write_at(std::vector<uint8_t>& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}

// Where the part headers of the payload at `at` start, one per part.
std::vector<size_t> part_offsets(const std::vector<uint8_t>& b, size_t at) {
  std::vector<size_t> out;
  size_t p = at + compress::kHeaderBytes;
  for (uint32_t i = 0; i < read_at<uint32_t>(b, at + kPartsAt); ++i) {
    out.push_back(p);
    const uint8_t enc = b[p + kPartEncodingAt];
    const uint64_t numel = read_at<uint64_t>(b, p + kPartNumelAt), count = read_at<uint64_t>(b, p + kPartCountAt);
    const uint64_t lead = enc == kIndexEncoding ? 4 * count : enc == kBitmapEncoding ? (numel + 7) / 8 : 0;
    p += compress::kPartHeaderBytes + lead + 4 * count;
  }
  return out;
}

// Where the first value of the part at `p` is.
size_t first_value(const std::vector<uint8_t>& b, size_t p) {
  const uint8_t enc = b[p + kPartEncodingAt];
  const uint64_t numel = read_at<uint64_t>(b, p + kPartNumelAt), count = read_at<uint64_t>(b, p + kPartCountAt);
  return p + compress::kPartHeaderBytes + (enc == kIndexEncoding ? 4 * count : enc == kBitmapEncoding ? (numel + 7) / 8 : 0);
}

// The first part with an index list of at least two positions.
size_t first_index_part(const std::vector<uint8_t>& b, size_t at, const std::string& why) {
  for (size_t p : part_offsets(b, at))
    if (b[p + kPartEncodingAt] == kIndexEncoding && read_at<uint64_t>(b, p + kPartCountAt) >= 2) return p;
  throw Error("FLB_TEST_UPLOAD: " + why + ": the upload has no index-list part of two or more positions "
              "(use a sparse algorithm, e.g. --algorithm topk --topk-ratio 0.01)");
}

int64_t foreign_client(const UploadContext& c) {
  for (int64_t k = 0; k < c.clients; ++k)
    if (owner_rank(k, c.clients, c.ranks) != c.rank) return k;
  throw Error("FLB_TEST_UPLOAD: foreign: every client is hosted by this rank (run on two or more ranks)");
}

int64_t unsampled_client(const UploadContext& c) {
  for (int64_t k = 0; k < c.clients; ++k)
    if (owner_rank(k, c.clients, c.ranks) == c.rank && !std::binary_search(c.sampled.begin(), c.sampled.end(), k))
      return k;
  throw Error("FLB_TEST_UPLOAD: unsampled: every client of this rank was sampled this round");
}

// The payload being rewritten: [at, at + size) of `b`.
struct Target {
  const UploadContext& c;
  std::vector<uint8_t>& b;
  size_t at, size;
  const std::string& kind;

  std::ptrdiff_t begin() const { return static_cast<std::ptrdiff_t>(at); }
  std::ptrdiff_t end() const { return static_cast<std::ptrdiff_t>(at + size); }
  size_t part0() const {
    const std::vector<size_t> parts = part_offsets(b, at);
    require(!parts.empty(), "FLB_TEST_UPLOAD: " + kind + ": the upload has no part");
    return parts[0];
  }
  // Where the first two positions of the first index-list part are.
  size_t positions() const { return first_index_part(b, at, kind) + compress::kPartHeaderBytes; }
};

struct Kind {
  const char* name;
  void (*rewrite)(const Target&);
};

// The kinds, in the order hostile_upload.h lists them.
const Kind kKinds[] = {
    {"omit", [](const Target& t) { t.b.erase(t.b.begin() + t.begin(), t.b.begin() + t.end()); }},
    {"magic", [](const Target& t) { write_at<uint32_t>(t.b, t.at, 0xDEADBEEF); }},
    {"version", [](const Target& t) { write_at<uint16_t>(t.b, t.at + kVersionAt, 99); }},
    {"overrun", [](const Target& t) { write_at<uint64_t>(t.b, t.at + kLengthAt, t.size + 4096); }},
    {"truncated",
     [](const Target& t) {
       t.b.erase(t.b.begin() + t.end() - 4, t.b.begin() + t.end());
       write_at<uint64_t>(t.b, t.at + kLengthAt, t.size - 4);
     }},
    {"algorithm",
     [](const Target& t) {
       write_at<uint16_t>(t.b, t.at + kAlgorithmAt, read_at<uint16_t>(t.b, t.at + kAlgorithmAt) ^ 0x40);
     }},
    {"foreign", [](const Target& t) { write_at<uint32_t>(t.b, t.at + kClientAt, static_cast<uint32_t>(foreign_client(t.c))); }},
    {"unsampled",
     [](const Target& t) { write_at<uint32_t>(t.b, t.at + kClientAt, static_cast<uint32_t>(unsampled_client(t.c))); }},
    {"duplicate",
     [](const Target& t) {
       const std::vector<uint8_t> copy(t.b.begin() + t.begin(), t.b.begin() + t.end());
       t.b.insert(t.b.end(), copy.begin(), copy.end());
     }},
    {"tensor", [](const Target& t) { write_at<uint32_t>(t.b, t.part0() + kPartTensorAt, 0x7FFFFFFF); }},
    {"count", [](const Target& t) { write_at<uint64_t>(t.b, t.part0() + kPartCountAt, uint64_t{1} << 62); }},
    {"nan",
     [](const Target& t) { write_at<float>(t.b, first_value(t.b, t.part0()), std::numeric_limits<float>::quiet_NaN()); }},
    {"inf",
     [](const Target& t) { write_at<float>(t.b, first_value(t.b, t.part0()), std::numeric_limits<float>::infinity()); }},
    {"unsorted",
     [](const Target& t) {
       const size_t pos = t.positions();
       const uint32_t first = read_at<uint32_t>(t.b, pos), second = read_at<uint32_t>(t.b, pos + 4);
       write_at<uint32_t>(t.b, pos, second);
       write_at<uint32_t>(t.b, pos + 4, first);
     }},
    {"repeated",
     [](const Target& t) {
       const size_t pos = t.positions();
       write_at<uint32_t>(t.b, pos + 4, read_at<uint32_t>(t.b, pos));
     }},
    {"position",
     [](const Target& t) {
       const size_t pos = t.positions(), part = pos - compress::kPartHeaderBytes;
       write_at<uint32_t>(t.b, pos, static_cast<uint32_t>(read_at<uint64_t>(t.b, part + kPartNumelAt)));
     }},
    {"boost",
     [](const Target& t) {
       for (size_t p : part_offsets(t.b, t.at))
         for (uint64_t i = 0, at = first_value(t.b, p); i < read_at<uint64_t>(t.b, p + kPartCountAt); ++i, at += 4)
           write_at<float>(t.b, at, 1000.0f * read_at<float>(t.b, at));
     }},
};

const Kind* kind_named(const std::string& name) {
  for (const Kind& k : kKinds)
    if (name == k.name) return &k;
  return nullptr;
}

}  // namespace

HostileUpload parse_hostile_upload(const std::string& text) {
  const HookValue hook("FLB_TEST_UPLOAD", text);
  const std::vector<std::string> fields = hook.fields(3, "RANK:ROUND:KIND");
  HostileUpload h;
  h.rank = static_cast<int>(hook.count(fields[0], "RANK"));
  h.round = hook.count(fields[1], "ROUND") - 1;
  hook.require(h.round >= 0, "ROUND counts from 1");
  h.kind = fields[2];
  std::string kinds;
  for (const Kind& k : kKinds) kinds += std::string(kinds.empty() ? "" : ", ") + k.name;
  hook.require(kind_named(h.kind) != nullptr, "KIND '" + h.kind + "' is not one of " + kinds);
  return h;
}

void arm_hostile_upload_from_env() {
  const char* v = std::getenv("FLB_TEST_UPLOAD");
  g_armed = v && *v ? parse_hostile_upload(v) : HostileUpload{};
}

void tamper_if_armed(const UploadContext& ctx, std::vector<uint8_t>& buffer) {
  if (g_armed.rank != ctx.rank || g_armed.round != ctx.round) return;
  const std::vector<compress::UploadView> uploads = compress::split_uploads(buffer.data(), buffer.size(), ctx.rank);
  require(!uploads.empty(), "FLB_TEST_UPLOAD: rank " + std::to_string(ctx.rank) + " has no upload in round " +
                                std::to_string(ctx.round + 1));
  kind_named(g_armed.kind)->rewrite(Target{ctx, buffer, uploads.back().offset, uploads.back().size, g_armed.kind});
}

}  // namespace flb::sim
