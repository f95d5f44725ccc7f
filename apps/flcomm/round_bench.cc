#include "round_bench.h"

#include <mpi.h>
#include <torch/torch.h>
#include <zlib.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <iostream>
#include <map>

#include "factor_model.h"
#include "flb/algo/lora.h"
#include "flb/algo/registry.h"
#include "flb/compress/malformed_upload.h"
#include "flb/compress/wire_format.h"
#include "reference.h"

namespace flcomm {
namespace {

using Clock = std::chrono::steady_clock;
using flb::algo::Tensors;
using flb::algo::Upload;
using flb::compress::Payload;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

uint32_t crc_of(const uint8_t* p, size_t n) { return static_cast<uint32_t>(crc32_z(0, p, n)); }

uint32_t crc_of(const Tensors& tensors) {
  uLong crc = 0;
  for (const auto& t : tensors) {
    const torch::Tensor c = t.contiguous();
    crc = crc32_z(crc, static_cast<const Bytef*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
  }
  return static_cast<uint32_t>(crc);
}

std::vector<uint8_t> bytes_of(const std::vector<uint32_t>& v) {
  std::vector<uint8_t> b(v.size() * 4);
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<uint32_t> words_of(const uint8_t* p, size_t n) {
  std::vector<uint32_t> v(n / 4);
  if (!v.empty()) std::memcpy(v.data(), p, v.size() * 4);
  return v;
}

// One round's numbers on this rank.
struct Sample {
  std::array<double, kPhases> time{}, bound{}, bytes{};
};

// Pool slack: client c's update in round k starts at a different offset.
constexpr int64_t kSlack = 1021;

class Bench {
 public:
  Bench(const Options& o, const Workload& w, int64_t r, const std::string& algorithm, flb::comm::MpiTransport& t)
      : o_(o), w_(w), r_(r), t_(t) {
    std::vector<std::string> args = o.algorithm_args;
    args.insert(args.end(), {"--lora-rank", std::to_string(r)});
    algo_ = flb::algo::make_algorithm(algorithm, flb::algo::parse_options(args).get(), o.seed);
    model_ = make_factor_model(w, r, o.seed, algorithm_arg(o, "--alpha", 16.0));
    params_ = algo_->trainable(*model_);
    for (const auto& p : params_) global_.push_back(p.detach().clone());
    upload_schema_ = algo_->upload_schema(params_);
    download_schema_ = algo_->download_schema(params_);
    make_pool();
    first_client_ = t.rank() * o.clients_per_rank;
    wrong_.fill(-1);
  }

  void round(int64_t k, bool timed, bool check) {
    Sample s;
    std::vector<uint32_t> crcs;
    std::vector<uint8_t> mine = encode(k, s, check, &crcs);
    flb::comm::Gathered g = gather(std::move(mine), s, check, crcs);
    std::vector<uint8_t> down = std::move(download_buffer_);
    down.clear();
    if (t_.rank() == 0) {
      const std::vector<Upload> uploads = decode(g, s, check);
      encode_broadcast(aggregate(k, uploads, s, check), s, down);
    }
    broadcast(down, s, check);
    apply(k, down, s, check);
    // Both buffers go round to round, as sim/round.cc's do.
    upload_buffer_ = std::move(g.bytes);
    download_buffer_ = std::move(down);
    if (!timed) return;
    ++timed_;
    for (int p = 0; p < kPhases; ++p) {
      sum_.time[p] += s.time[p];
      sum_.bound[p] += s.bound[p];
      sum_.bytes[p] += s.bytes[p];
    }
  }

  ConfigResult result();

 private:
  void make_pool();
  void make_local(int64_t client, int64_t round);
  std::vector<uint8_t> encode(int64_t k, Sample& s, bool check, std::vector<uint32_t>* crcs);
  flb::comm::Gathered gather(std::vector<uint8_t> mine, Sample& s, bool check, const std::vector<uint32_t>& crcs);
  double raw_gatherv(uint64_t mine);
  std::vector<Upload> decode(const flb::comm::Gathered& g, Sample& s, bool check);
  Payload aggregate(int64_t k, const std::vector<Upload>& uploads, Sample& s, bool check);
  double aggregate_bound(const std::vector<Upload>& uploads, double* flops);
  void encode_broadcast(const Payload& p, Sample& s, std::vector<uint8_t>& out);
  void broadcast(std::vector<uint8_t>& down, Sample& s, bool check);
  void apply(int64_t k, const std::vector<uint8_t>& down, Sample& s, bool check);
  double memcpy_seconds(const uint8_t* src, size_t n);
  // Adds `wrong` to phase p's count (root's, or the sum over ranks).
  void count_wrong(Phase p, int64_t wrong) { wrong_[p] = std::max<int64_t>(wrong_[p], 0) + wrong; }

  const Options& o_;
  const Workload& w_;
  int64_t r_;
  flb::comm::MpiTransport& t_;
  torch::NoGradGuard no_grad_;
  std::unique_ptr<flb::algo::Algorithm> algo_;
  std::shared_ptr<torch::nn::Module> model_;
  Tensors params_, global_, pool_;
  flb::compress::WireSchema upload_schema_, download_schema_;
  int64_t first_client_ = 0;
  std::vector<uint8_t> scratch_, raw_send_;
  std::vector<uint8_t> upload_buffer_, download_buffer_;  // reused from round to round
  double aggregate_bound_s_ = -1, aggregate_flops_ = 0;
  Sample sum_;
  int timed_ = 0;
  std::array<int64_t, kPhases> wrong_;
  std::string aggregate_note_;
};

// Per tensor, kSlack more random values than it has, --update-scale times
// the tensor's standard deviation; each rank draws its own.
void Bench::make_pool() {
  auto gen = torch::make_generator<torch::CPUGeneratorImpl>(o_.seed * 7919 + static_cast<uint64_t>(t_.rank()) + 1);
  for (const auto& g : global_) {
    const double scale = o_.update_scale * g.std().item<double>();
    pool_.push_back(torch::randn({g.numel() + kSlack}, gen) * scale);
  }
}

void Bench::make_local(int64_t client, int64_t round) {
  const int64_t offset = (client * 104729 + round * 7907) % kSlack;
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].copy_(global_[i] + pool_[i].narrow(0, offset, global_[i].numel()).view(global_[i].sizes()));
}

std::vector<uint8_t> Bench::encode(int64_t k, Sample& s, bool check, std::vector<uint32_t>* crcs) {
  std::vector<uint8_t> out = std::move(upload_buffer_);
  out.clear();
  int64_t wrong = 0;
  for (int64_t c = first_client_; c < first_client_ + o_.clients_per_rank; ++c) {
    make_local(c, k);
    const flb::algo::ClientContext ctx{c, k, 1};
    const size_t before = out.size();
    auto t0 = Clock::now();
    const flb::algo::EncodedUpload e = algo_->append_upload(ctx, global_, params_, out);
    s.time[kEncode] += since(t0);
    t0 = Clock::now();
    for (size_t i = 0; i < params_.size(); ++i) (void)(params_[i] - global_[i]);
    s.bound[kEncode] += since(t0);
    wrong += static_cast<size_t>(e.bytes) != out.size() - before;
    crcs->push_back(crc_of(out.data() + before, out.size() - before));
  }
  s.bytes[kEncode] = static_cast<double>(out.size());
  if (check) count_wrong(kEncode, wrong);
  if (o_.corrupt == "gather" && t_.rank() == 1 && !out.empty()) out[out.size() / 2] ^= 0x40;
  return out;
}

flb::comm::Gathered Bench::gather(std::vector<uint8_t> mine, Sample& s, bool check, const std::vector<uint32_t>& crcs) {
  const uint64_t n = mine.size();
  t_.barrier();
  const auto t0 = Clock::now();
  flb::comm::Gathered g = t_.gatherv(std::move(mine));
  s.time[kGather] = since(t0);
  s.bound[kGather] = raw_gatherv(n);
  if (t_.rank() == 0) s.bytes[kGather] = static_cast<double>(g.bytes.size());
  if (!check) return g;
  const flb::comm::Gathered sent = t_.gather_small(bytes_of(crcs));
  if (t_.rank() != 0) return g;
  int64_t wrong = 0;
  for (size_t r = 0; r + 1 < g.offsets.size(); ++r) {
    const std::vector<uint32_t> want = words_of(sent.bytes.data() + sent.offsets[r], sent.offsets[r + 1] - sent.offsets[r]);
    std::vector<uint32_t> got;
    try {
      for (const auto& u : flb::compress::split_uploads(g.bytes.data() + g.offsets[r], g.offsets[r + 1] - g.offsets[r],
                                                        static_cast<int>(r)))
        got.push_back(crc_of(u.data, u.size));
    } catch (const flb::MalformedUpload&) {
      got.clear();
    }
    for (size_t i = 0; i < want.size(); ++i) wrong += i >= got.size() || got[i] != want[i];
  }
  count_wrong(kGather, wrong);
  return g;
}

// The same byte counts through MPI_Gatherv directly, into a scratch buffer
// of at most INT_MAX bytes per call (MPI's int counts and displacements).
// Rank 0's own uploads stay in place, as in MpiTransport::gatherv.
double Bench::raw_gatherv(uint64_t mine) {
  std::vector<uint64_t> sizes = t_.allgather(mine);
  sizes[0] = 0;
  if (t_.rank() == 0) mine = 0;
  const int p = t_.size();
  const uint64_t chunk = static_cast<uint64_t>(INT_MAX) / static_cast<uint64_t>(p);
  uint64_t most = 0;
  for (uint64_t n : sizes) most = std::max(most, n);
  if (raw_send_.size() < std::min(mine, chunk)) raw_send_.assign(std::min(mine, chunk), 1);
  if (t_.rank() == 0 && scratch_.size() < std::min(most, chunk) * p) scratch_.assign(std::min(most, chunk) * p, 0);
  std::vector<int> counts(p), displs(p);
  t_.barrier();
  const auto t0 = Clock::now();
  for (uint64_t done = 0; done < most || done == 0; done += chunk) {
    int at = 0;
    for (int r = 0; r < p; ++r) {
      counts[r] = static_cast<int>(sizes[r] > done ? std::min(chunk, sizes[r] - done) : 0);
      displs[r] = at;
      at += counts[r];
    }
    MPI_Gatherv(raw_send_.data(), counts[t_.rank()], MPI_BYTE, scratch_.data(), counts.data(), displs.data(), MPI_BYTE, 0,
                t_.handle());
    if (most == 0) break;
  }
  return since(t0);
}

// n bytes copied out of `src` through a scratch buffer of at most 256 MiB
// (one copy of the gathered uploads would double rank 0's memory).
double Bench::memcpy_seconds(const uint8_t* src, size_t n) {
  const size_t block = std::min<size_t>(n, size_t{256} << 20);
  if (scratch_.size() < block) scratch_.assign(block, 0);
  const auto t0 = Clock::now();
  for (size_t done = 0; done < n; done += block) std::memcpy(scratch_.data(), src + done, std::min(block, n - done));
  return since(t0);
}

std::vector<Upload> Bench::decode(const flb::comm::Gathered& g, Sample& s, bool check) {
  std::vector<Upload> uploads;
  int64_t rejected = 0;
  const auto t0 = Clock::now();
  for (size_t r = 0; r + 1 < g.offsets.size(); ++r) {
    try {
      for (const auto& u : flb::compress::split_uploads(g.bytes.data() + g.offsets[r], g.offsets[r + 1] - g.offsets[r],
                                                        static_cast<int>(r))) {
        try {
          uploads.push_back({u.client, 1, flb::compress::decode(u.data, u.size, upload_schema_, u.client)});
        } catch (const flb::MalformedUpload&) {
          ++rejected;
        }
      }
    } catch (const flb::MalformedUpload&) {
      ++rejected;
    }
  }
  s.time[kDecode] = since(t0);
  s.bound[kDecode] = memcpy_seconds(g.bytes.data(), g.bytes.size());
  s.bytes[kDecode] = static_cast<double>(g.bytes.size());
  if (check) count_wrong(kDecode, rejected);
  return uploads;
}

Payload Bench::aggregate(int64_t k, const std::vector<Upload>& uploads, Sample& s, bool check) {
  const auto t0 = Clock::now();
  Payload p = algo_->aggregate(k, uploads, global_);
  s.time[kAggregate] = since(t0);
  if (aggregate_bound_s_ < 0) aggregate_bound_s_ = aggregate_bound(uploads, &aggregate_flops_);
  s.bound[kAggregate] = aggregate_bound_s_;
  s.bytes[kAggregate] = s.bytes[kDecode];
  if (check) {
    const AggregateCheck c = check_aggregate(*algo_, uploads, global_, p, algorithm_arg(o_, "--download-sparsity", 0.8));
    if (c.wrong >= 0) count_wrong(kAggregate, c.wrong);
    char line[256];
    std::snprintf(line, sizeof line, "%s: max relative error %.2e (tolerance %.0e)", c.what.c_str(), c.max_error, c.tolerance);
    aggregate_note_ = c.wrong >= 0 ? line : c.what;
  }
  return p;
}

// The plain LibTorch work an aggregation of this shape cannot avoid:
// for the reconstructing algorithms the dense product of the stacked
// client factors per layer; for the others the weighted sum of the
// uploads' values. Stacks are built before the clock starts.
double Bench::aggregate_bound(const std::vector<Upload>& uploads, double* flops) {
  const std::string name = algo_->name();
  const auto* lora = dynamic_cast<const flb::algo::LoraAlgorithm*>(algo_.get());
  double seconds = 0;
  *flops = 0;
  if (lora && (name == "fedsrd" || name == "fedsrd-e" || name == "flexlora")) {
    std::map<std::pair<int64_t, int64_t>, double> per_shape;  // every layer of a shape costs the same
    for (size_t l = 0; l < lora->slots().size(); ++l) {
      const size_t ia = lora->a_index(l), ib = lora->b_index(l);
      const std::pair<int64_t, int64_t> shape{global_[ib].size(0), global_[ia].size(1)};
      *flops += 2.0 * static_cast<double>(shape.first) * static_cast<double>(shape.second) *
                static_cast<double>(global_[ia].size(0) * static_cast<int64_t>(uploads.size()));
      if (per_shape.count(shape)) {
        seconds += per_shape[shape];
        continue;
      }
      std::vector<torch::Tensor> As, Bs;
      for (const Upload& u : uploads)
        for (const auto& part : u.payload.parts) {
          if (part.tensor == ia) As.push_back(global_[ia] + dense_of(part, global_[ia]));
          if (part.tensor == ib) Bs.push_back(global_[ib] + dense_of(part, global_[ib]));
        }
      const torch::Tensor A = torch::cat(As, 0), B = torch::cat(Bs, 1);
      const auto t0 = Clock::now();
      const torch::Tensor W = B.matmul(A);
      per_shape[shape] = since(t0);
      seconds += per_shape[shape];
    }
    return seconds;
  }
  std::vector<torch::Tensor> sum;
  for (const auto& g : global_) sum.push_back(torch::zeros({g.numel()}));
  const float w = 1.0f / static_cast<float>(std::max<size_t>(1, uploads.size()));
  const auto t0 = Clock::now();
  for (const Upload& u : uploads)
    for (const auto& part : u.payload.parts) {
      if (part.kind == flb::compress::PartKind::kDense) sum[part.tensor].add_(part.values.reshape({-1}), w);
      if (part.kind == flb::compress::PartKind::kSparse) sum[part.tensor].index_add_(0, part.indices.to(torch::kLong), part.values * w);
    }
  return since(t0);
}

void Bench::encode_broadcast(const Payload& p, Sample& s, std::vector<uint8_t>& out) {
  const auto t0 = Clock::now();
  flb::compress::encode(p, out);
  s.time[kEncodeBcast] = since(t0);
  s.bound[kEncodeBcast] = memcpy_seconds(out.data(), out.size());
  s.bytes[kEncodeBcast] = static_cast<double>(out.size());
}

void Bench::broadcast(std::vector<uint8_t>& down, Sample& s, bool check) {
  const uint32_t root_crc = crc_of(down.data(), down.size());
  t_.barrier();
  auto t0 = Clock::now();
  t_.bcast(down);
  s.time[kBcast] = since(t0);
  s.bytes[kBcast] = static_cast<double>(down.size());
  // The raw bound: MPI_Bcast of the same bytes, in calls of at most INT_MAX.
  if (scratch_.size() < down.size()) scratch_.assign(down.size(), 0);
  if (t_.rank() == 0) std::memcpy(scratch_.data(), down.data(), down.size());
  t_.barrier();
  t0 = Clock::now();
  for (size_t done = 0; done < down.size(); done += INT_MAX)
    MPI_Bcast(scratch_.data() + done, static_cast<int>(std::min<size_t>(INT_MAX, down.size() - done)), MPI_BYTE, 0,
              t_.handle());
  s.bound[kBcast] = since(t0);
  if (o_.corrupt == "bcast" && t_.rank() == 1 && !down.empty()) down[down.size() / 2] ^= 0x40;
  if (!check) return;
  const flb::comm::Gathered crcs = t_.gather_small(bytes_of({crc_of(down.data(), down.size())}));
  if (t_.rank() != 0) return;
  int64_t wrong = 0;
  for (uint32_t c : words_of(crcs.bytes.data(), crcs.bytes.size())) wrong += c != root_crc;
  count_wrong(kBcast, wrong);
}

void Bench::apply(int64_t k, const std::vector<uint8_t>& down, Sample& s, bool check) {
  const auto t0 = Clock::now();
  bool decoded = true;
  try {
    algo_->apply_download(k, global_, flb::compress::decode(down.data(), down.size(), download_schema_, flb::compress::kServerId));
  } catch (const flb::MalformedUpload& e) {
    decoded = false;  // counted by the state check below
  }
  s.time[kApply] = since(t0);
  s.bound[kApply] = memcpy_seconds(down.data(), down.size());
  s.bytes[kApply] = static_cast<double>(down.size());
  if (!check) return;
  const uint32_t mine = decoded ? crc_of(global_) : ~crc_of(global_);
  const flb::comm::Gathered crcs = t_.gather_small(bytes_of({mine}));
  if (t_.rank() != 0) return;
  int64_t wrong = 0;
  const std::vector<uint32_t> all = words_of(crcs.bytes.data(), crcs.bytes.size());
  for (uint32_t c : all) wrong += c != all[0];
  count_wrong(kApply, wrong);
}

ConfigResult Bench::result() {
  ConfigResult out;
  out.algorithm = algo_->name();
  out.rank = r_;
  out.clients = o_.clients_per_rank * t_.size();
  const double n = std::max(1, timed_);
  for (int p = 0; p < kPhases; ++p) {
    const std::vector<double> v = t_.gather_doubles(
        {sum_.time[p] / n, sum_.bound[p] / n, sum_.bytes[p] / n, static_cast<double>(wrong_[p])});
    if (t_.rank() != 0) continue;
    PhaseResult& r = out.phases[p];
    const bool root_only = p == kDecode || p == kAggregate || p == kEncodeBcast;
    const size_t ranks = root_only ? 1 : v.size() / 4;
    r.min_s = v[0];
    for (size_t i = 0; i < ranks; ++i) {
      r.avg_s += v[4 * i] / static_cast<double>(ranks);
      r.min_s = std::min(r.min_s, v[4 * i]);
      r.max_s = std::max(r.max_s, v[4 * i]);
      r.bound_s += v[4 * i + 1] / static_cast<double>(ranks);
      if (p == kEncode) {  // every rank's uploads, every rank's encoder check
        r.bytes += v[4 * i + 2];
        if (v[4 * i + 3] >= 0) r.wrong = std::max<int64_t>(r.wrong, 0) + static_cast<int64_t>(v[4 * i + 3]);
      }
    }
    if (p != kEncode) {
      r.bytes = v[2];
      r.wrong = wrong_[p];
    }
  }
  out.phases[kAggregate].flops = aggregate_flops_;
  if (t_.rank() == 0 && !aggregate_note_.empty())
    std::cout << "# " << out.algorithm << " r=" << r_ << ": " << aggregate_note_ << "\n";
  return out;
}

}  // namespace

const char* phase_name(Phase p) {
  static const char* names[kPhases] = {"encode", "gather", "decode", "aggregate", "encode-bcast", "bcast", "apply"};
  return names[p];
}

ConfigResult run_config(const Options& options, const Workload& workload, int64_t lora_rank, const std::string& algorithm,
                        flb::comm::MpiTransport& transport) {
  Bench bench(options, workload, lora_rank, algorithm, transport);
  const int64_t rounds = options.warmup + options.iters;
  for (int64_t k = 0; k < rounds; ++k) bench.round(k, k >= options.warmup, k + 1 == rounds);
  return bench.result();
}

}  // namespace flcomm
