#include "flb/sim/hierarchical.h"

#include <torch/torch.h>

#include <cstring>

#include "flb/core/error.h"

namespace flb::sim {
namespace {

constexpr size_t kTallies = 6;

int64_t total_numel(const algo::Tensors& global) {
  int64_t n = 0;
  for (const auto& g : global) n += g.numel();
  return n;
}

}  // namespace

Tallies& Tallies::operator+=(const Tallies& t) {
  weight += t.weight;
  accepted += t.accepted;
  rejected += t.rejected;
  parts += t.parts;
  scalar_parts += t.scalar_parts;
  clipped += t.clipped;
  return *this;
}

RankSum rank_sum(const algo::Algorithm& algorithm, const std::vector<algo::Upload>& uploads, const algo::Tensors& global,
                 const Tallies& t) {
  torch::NoGradGuard no_grad;
  const int64_t n = total_numel(global);
  RankSum out;
  out.values.assign(static_cast<size_t>(n) + global.size() + kTallies, 0.0);
  // Float32 sums in client order, as rank 0 sums in central mode (the
  // float64 buffer only carries them through the reduction): a float64
  // accumulation took twice central's time here for no digits that matter.
  std::vector<torch::Tensor> acc;
  for (const auto& g : global) acc.push_back(torch::zeros({g.numel()}, torch::kFloat32));
  double* counts = out.values.data() + n;
  double weight = 0;
  for (const algo::Upload& u : uploads) {
    const double w = algorithm.mean_weight(u);
    weight += w;
    for (const compress::Part& p : u.payload.parts) {
      require(p.kind != compress::PartKind::kScalar, "hierarchical aggregation: a scalar part in an upload");
      torch::Tensor& a = acc.at(p.tensor);
      if (p.kind == compress::PartKind::kDense) a.add_(p.values.reshape({-1}), w);
      else a.index_add_(0, p.indices.to(torch::kLong), p.values * w);
      counts[p.tensor] += 1;
    }
  }
  torch::Tensor flat = torch::from_blob(out.values.data(), {n}, torch::kFloat64);
  int64_t at = 0;
  for (const auto& a : acc) {
    flat.narrow(0, at, a.numel()).copy_(a);
    at += a.numel();
  }
  double* tallies = counts + global.size();
  const double values[kTallies] = {weight, t.accepted, t.rejected, t.parts, t.scalar_parts, t.clipped};
  std::memcpy(tallies, values, sizeof values);
  return out;
}

Tallies tallies_of(const RankSum& sum, const algo::Tensors& global) {
  const double* t = sum.values.data() + total_numel(global) + global.size();
  return {t[0], t[1], t[2], t[3], t[4], t[5]};
}

algo::Upload mean_upload(const RankSum& reduced, const algo::Tensors& global, uint16_t wire_id) {
  const int64_t n = total_numel(global);
  require(reduced.values.size() == static_cast<size_t>(n) + global.size() + kTallies,
          "hierarchical aggregation: the reduced sum has the wrong size");
  const double weight = tallies_of(reduced, global).weight;
  require(weight > 0, "no valid upload this round");
  algo::Upload m;
  m.client = 0;
  m.samples = 1;
  m.payload.algorithm = wire_id;
  m.payload.client = 0;
  const double* counts = reduced.values.data() + n;
  int64_t at = 0;
  for (size_t i = 0; i < global.size(); ++i) {
    const int64_t k = global[i].numel();
    if (counts[i] > 0) {
      compress::Part p;
      p.kind = compress::PartKind::kDense;
      p.tensor = static_cast<uint32_t>(i);
      p.numel = static_cast<uint64_t>(k);
      p.values = (torch::from_blob(const_cast<double*>(reduced.values.data()) + at, {k}, torch::kFloat64) / weight)
                     .to(torch::kFloat32);
      m.payload.parts.push_back(std::move(p));
    }
    at += k;
  }
  return m;
}

namespace {

constexpr uint64_t kFoldMagic = 0x31444c4f46424c46ull;  // "FLBFOLD1"

void put(std::vector<uint8_t>& out, const void* data, size_t bytes) {
  if (bytes == 0) return;  // an empty tensor's data pointer may be null
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + bytes);
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) { put(out, &v, sizeof v); }
void put_f64(std::vector<uint8_t>& out, double v) { put(out, &v, sizeof v); }
void put_tensor(std::vector<uint8_t>& out, const torch::Tensor& t) {
  const torch::Tensor host = t.to(torch::kCPU, torch::kFloat32).contiguous();
  put(out, host.data_ptr<float>(), static_cast<size_t>(host.numel()) * sizeof(float));
}

// Reads what pack_fold wrote; every read is bounds-checked.
class FoldReader {
 public:
  FoldReader(const uint8_t* data, size_t size, int rank) : data_(data), size_(size), rank_(rank) {}
  uint64_t u64() { uint64_t v; take(&v, sizeof v); return v; }
  double f64() { double v; take(&v, sizeof v); return v; }
  uint64_t count(uint64_t limit, const char* what) {
    const uint64_t n = u64();
    if (n > limit) fail(std::string(what) + " " + std::to_string(n) + " exceeds " + std::to_string(limit));
    return n;
  }
  torch::Tensor tensor(int64_t rows, int64_t cols) {
    const uint64_t bytes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * sizeof(float);
    if (bytes > size_ - at_) fail("a " + std::to_string(rows) + " x " + std::to_string(cols) + " tensor runs past the end");
    torch::Tensor t = torch::empty({rows, cols}, torch::kFloat32);
    take(t.data_ptr<float>(), bytes);
    return t;
  }
  void finish() const {
    if (at_ != size_) fail(std::to_string(size_ - at_) + " bytes left over");
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("hierarchical: rank " + std::to_string(rank_) + "'s fold is malformed at byte " + std::to_string(at_) +
                ": " + what);
  }

 private:
  void take(void* out, size_t bytes) {
    if (bytes > size_ - at_) fail("it ends early");
    if (bytes == 0) return;  // an empty tensor's data pointer may be null, which memcpy must not see
    std::memcpy(out, data_ + at_, bytes);
    at_ += bytes;
  }
  const uint8_t* data_;
  size_t size_, at_ = 0;
  int rank_;
};

// A layer's dimension: at least 1 and at most 2^24 (far above any model's).
constexpr uint64_t kMaxDim = uint64_t{1} << 24;

}  // namespace

std::vector<uint8_t> pack_fold(const algo::RankFold& fold, const Tallies& t) {
  std::vector<uint8_t> out;
  put_u64(out, kFoldMagic);
  for (double v : {t.weight, t.accepted, t.rejected, t.parts, t.scalar_parts, t.clipped, fold.uploads}) put_f64(out, v);
  put_u64(out, fold.dropped.size());
  for (double d : fold.dropped) put_f64(out, d);
  put_u64(out, fold.layers.size());
  for (const linalg::FoldedBaseSum& f : fold.layers) {
    const int64_t r = f.a.size(0), d_in = f.a.size(1), d_out = f.b.size(0);
    int64_t k = 0;
    for (const auto& L : f.L) k += L.size(1);
    for (int64_t v : {r, d_in, d_out, k}) put_u64(out, static_cast<uint64_t>(v));
    put_f64(out, f.s);
    put_tensor(out, f.a);
    put_tensor(out, f.b);
    for (const auto& L : f.L) put_tensor(out, L.t());  // (k_j, d_out) rows: the pairs back to back
    for (const auto& R : f.R) put_tensor(out, R);
  }
  return out;
}

UnpackedFold unpack_fold(const uint8_t* data, size_t size, int rank) {
  FoldReader in(data, size, rank);
  if (in.u64() != kFoldMagic) in.fail("wrong magic (not a fold)");
  UnpackedFold u;
  Tallies& t = u.tallies;
  t.weight = in.f64();
  t.accepted = in.f64();
  t.rejected = in.f64();
  t.parts = in.f64();
  t.scalar_parts = in.f64();
  t.clipped = in.f64();
  u.fold.uploads = in.f64();
  u.fold.dropped.resize(in.count(size / sizeof(double), "tensor count"));
  for (double& d : u.fold.dropped) d = in.f64();
  const uint64_t layers = in.count(size / 32, "layer count");
  for (uint64_t l = 0; l < layers; ++l) {
    const auto r = static_cast<int64_t>(in.count(kMaxDim, "r")), d_in = static_cast<int64_t>(in.count(kMaxDim, "d_in"));
    const auto d_out = static_cast<int64_t>(in.count(kMaxDim, "d_out")), k = static_cast<int64_t>(in.count(kMaxDim, "k"));
    linalg::FoldedBaseSum f;
    f.s = in.f64();
    f.a = in.tensor(r, d_in);
    f.b = in.tensor(d_out, r);
    f.L.push_back(in.tensor(k, d_out).t().contiguous());
    f.R.push_back(in.tensor(k, d_in));
    u.fold.layers.push_back(std::move(f));
  }
  in.finish();
  return u;
}

std::vector<algo::RankFold> unpack_folds(const comm::Gathered& gathered, Tallies& total) {
  std::vector<algo::RankFold> folds;
  for (size_t r = 0; r + 1 < gathered.offsets.size(); ++r) {
    const uint64_t from = gathered.offsets[r], to = gathered.offsets[r + 1];
    UnpackedFold u = unpack_fold(gathered.bytes.data() + from, to - from, static_cast<int>(r));
    total += u.tallies;
    folds.push_back(std::move(u.fold));
  }
  return folds;
}

}  // namespace flb::sim
