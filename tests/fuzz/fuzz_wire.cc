// Fuzz target: a rank's gathered buffer of uploads, split into payloads
// (compress::split_uploads) and each decoded against a schema of five
// tensors (compress::decode).
//
// Properties beyond "no crash": the lenient split (--on-bad-upload skip)
// returns exactly the uploads before the strict split's error; every view
// lies inside the buffer; a payload that decodes satisfies the schema
// (positions ascending, distinct and in range, values finite, counts as
// the rule says); and its re-encoding decodes to the same payload.
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include "flb/compress/wire_format.h"
#include "fuzz_check.h"

namespace flb::compress {
namespace {

// Tensors: 0 dense (10), 1 dense or sparse (1000), 2 scalar of any count
// at most once, 3 any kind at most once (64), 4 never sent (5).
const WireSchema& schema() {
  static const WireSchema s = [] {
    WireSchema w;
    w.algorithm = 7;
    w.tensors = {{10, kDenseOnly, Presence::kExactlyOnce, 0},
                 {1000, kDenseOrSparse, Presence::kExactlyOnce, 0},
                 {3, kScalarOnly, Presence::kAtMostOnce, 0},
                 {64, kAnyKind, Presence::kAtMostOnce, 0},
                 {5, kDenseOnly, Presence::kNever, 0}};
    return w;
  }();
  return s;
}

void check_against_schema(const Payload& p, uint32_t client) {
  using fuzz::check;
  check(p.algorithm == schema().algorithm && p.client == client, "decoded header differs from the schema");
  std::vector<int> seen(schema().tensors.size(), 0);
  for (const Part& part : p.parts) {
    check(part.tensor < schema().tensors.size(), "part names a tensor past the schema");
    const TensorRule& rule = schema().tensors[part.tensor];
    ++seen[part.tensor];
    check(part.numel == rule.numel, "part's numel differs from the rule");
    check((rule.kinds >> static_cast<int>(part.kind)) & 1, "part of a kind the rule forbids");
    const std::vector<float> v = values_of(part);
    for (float x : v) check(std::isfinite(x), "decoded a non-finite value");
    if (part.kind == PartKind::kDense) check(v.size() == part.numel, "dense part without numel values");
    if (part.kind == PartKind::kScalar) check(!v.empty(), "scalar part without values");
    if (part.kind == PartKind::kSparse) {
      const std::vector<uint32_t> idx = indices_of(part);
      check(idx.size() == v.size(), "sparse part with unequal positions and values");
      for (size_t i = 0; i < idx.size(); ++i) {
        check(idx[i] < part.numel, "position out of range");
        check(i == 0 || idx[i - 1] < idx[i], "positions not ascending and distinct");
      }
    }
  }
  for (size_t t = 0; t < seen.size(); ++t) {
    const Presence presence = schema().tensors[t].presence;
    check(presence != Presence::kExactlyOnce || seen[t] == 1, "a required tensor missing or repeated");
    check(presence != Presence::kAtMostOnce || seen[t] <= 1, "an optional tensor repeated");
    check(presence != Presence::kNever || seen[t] == 0, "a never-sent tensor present");
  }
}

void check_round_trip(const Payload& p) {
  const std::vector<uint8_t> bytes = encode(p);
  fuzz::check(bytes.size() == encoded_size(p), "encode() wrote other than encoded_size()");
  const Payload q = decode(bytes.data(), bytes.size(), schema(), p.client);
  fuzz::check(q.parts.size() == p.parts.size(), "re-encoding changed the part count");
  for (size_t i = 0; i < p.parts.size(); ++i) {
    const Part &a = p.parts[i], &b = q.parts[i];
    fuzz::check(a.kind == b.kind && a.tag == b.tag && a.tensor == b.tensor && a.numel == b.numel,
                "re-encoding changed a part header");
    fuzz::check(values_of(a) == values_of(b), "re-encoding changed values");
    if (a.kind == PartKind::kSparse) fuzz::check(indices_of(a) == indices_of(b), "re-encoding changed positions");
  }
}

}  // namespace
}  // namespace flb::compress

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flb::compress;
  std::optional<flb::MalformedUpload> broken;
  const std::vector<UploadView> views = split_uploads(data, size, 1, &broken);
  try {
    const std::vector<UploadView> strict = split_uploads(data, size, 1);
    flb::fuzz::check(!broken && strict.size() == views.size(), "strict and lenient splits disagree");
  } catch (const flb::MalformedUpload&) {
    flb::fuzz::check(broken.has_value(), "strict split threw where the lenient one saw no break");
  }
  for (const UploadView& v : views) {
    flb::fuzz::check(v.data == data + v.offset && v.offset + v.size <= size, "a view outside the buffer");
    Payload p;
    try {
      p = decode(v.data, v.size, schema(), v.client);
    } catch (const flb::MalformedUpload&) {
      continue;  // rejected, as the contract says
    }
    check_against_schema(p, v.client);
    check_round_trip(p);
  }
  return 0;
}
