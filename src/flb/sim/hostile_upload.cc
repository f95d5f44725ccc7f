#include "flb/sim/hostile_upload.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "flb/compress/wire_format.h"
#include "flb/core/error.h"
#include "flb/sim/placement.h"

namespace flb::sim {
namespace {

HostileUpload g_armed;  // set once before the rounds

const char* const kKinds[] = {"omit",      "magic",  "version", "overrun", "truncated", "algorithm",
                              "foreign",   "unsampled", "duplicate", "tensor", "count", "nan",
                              "inf",       "unsorted", "repeated", "position"};

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

// Rewrites the payload at [at, at + size) of `b` as `kind` says.
void rewrite(const std::string& kind, const UploadContext& c, std::vector<uint8_t>& b, size_t at, size_t size) {
  const auto part0 = [&] {
    const std::vector<size_t> parts = part_offsets(b, at);
    require(!parts.empty(), "FLB_TEST_UPLOAD: " + kind + ": the upload has no part");
    return parts[0];
  };
  if (kind == "omit") b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + size));
  else if (kind == "magic") write_at<uint32_t>(b, at, 0xDEADBEEF);
  else if (kind == "version") write_at<uint16_t>(b, at + kVersionAt, 99);
  else if (kind == "overrun") write_at<uint64_t>(b, at + kLengthAt, size + 4096);
  else if (kind == "truncated") {
    b.erase(b.begin() + static_cast<std::ptrdiff_t>(at + size - 4), b.begin() + static_cast<std::ptrdiff_t>(at + size));
    write_at<uint64_t>(b, at + kLengthAt, size - 4);
  } else if (kind == "algorithm") write_at<uint16_t>(b, at + kAlgorithmAt, read_at<uint16_t>(b, at + kAlgorithmAt) ^ 0x40);
  else if (kind == "foreign") write_at<uint32_t>(b, at + kClientAt, static_cast<uint32_t>(foreign_client(c)));
  else if (kind == "unsampled") write_at<uint32_t>(b, at + kClientAt, static_cast<uint32_t>(unsampled_client(c)));
  else if (kind == "duplicate") {
    const std::vector<uint8_t> copy(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + size));
    b.insert(b.end(), copy.begin(), copy.end());
  } else if (kind == "tensor") write_at<uint32_t>(b, part0() + kPartTensorAt, 0x7FFFFFFF);
  else if (kind == "count") write_at<uint64_t>(b, part0() + kPartCountAt, uint64_t{1} << 62);
  else if (kind == "nan") write_at<float>(b, first_value(b, part0()), std::numeric_limits<float>::quiet_NaN());
  else if (kind == "inf") write_at<float>(b, first_value(b, part0()), std::numeric_limits<float>::infinity());
  else {  // the positions of an index list
    const size_t p = first_index_part(b, at, kind), pos = p + compress::kPartHeaderBytes;
    const uint32_t first = read_at<uint32_t>(b, pos), second = read_at<uint32_t>(b, pos + 4);
    if (kind == "unsorted") {
      write_at<uint32_t>(b, pos, second);
      write_at<uint32_t>(b, pos + 4, first);
    } else if (kind == "repeated") {
      write_at<uint32_t>(b, pos + 4, first);
    } else {  // position
      write_at<uint32_t>(b, pos, static_cast<uint32_t>(read_at<uint64_t>(b, p + kPartNumelAt)));
    }
  }
}

}  // namespace

HostileUpload parse_hostile_upload(const std::string& text) {
  const std::string what = "FLB_TEST_UPLOAD=" + text + ": ";
  const size_t a = text.find(':'), b = a == std::string::npos ? a : text.find(':', a + 1);
  require(b != std::string::npos && text.find(':', b + 1) == std::string::npos,
          what + "expected RANK:ROUND:KIND (three fields)");
  const auto number = [&](const std::string& field, const char* name) {
    char* end = nullptr;
    const long long v = std::strtoll(field.c_str(), &end, 10);
    require(!field.empty() && *end == '\0' && v >= 0, what + name + " '" + field + "' is not a non-negative integer");
    return static_cast<int64_t>(v);
  };
  HostileUpload h;
  h.rank = static_cast<int>(number(text.substr(0, a), "RANK"));
  h.round = number(text.substr(a + 1, b - a - 1), "ROUND") - 1;
  require(h.round >= 0, what + "ROUND counts from 1");
  h.kind = text.substr(b + 1);
  std::string kinds;
  bool known = false;
  for (const char* k : kKinds) {
    known = known || h.kind == k;
    kinds += std::string(kinds.empty() ? "" : ", ") + k;
  }
  require(known, what + "KIND '" + h.kind + "' is not one of " + kinds);
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
  rewrite(g_armed.kind, ctx, buffer, uploads.back().offset, uploads.back().size);
}

}  // namespace flb::sim
