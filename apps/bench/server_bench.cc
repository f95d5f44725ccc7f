// FedSRD server-step benchmark: fedsrd::solve, the server's whole math for
// one LoRA layer (reconstruct, average, truncate, project), at the adapted
// shapes of a real model (model/llama_presets.h), with m clients of rank r.
//
//   server_bench [--model llama-3.2-3b] [--clients 4] [--rank 64] [--reps 3] [--device cpu|cuda] [--threads N] [--json FILE]
//
// Per distinct projection shape it times, median over --reps after one
// warm-up, the mean of an A-round and a B-round (rounds alternate) of
//   fedsrd      truncate through the shared-base stacks (linalg::base_left_pinv_delta:
//               QRs in float32 of [B, dB_1 ..], B A cancelled in a float64 core)
//   before      the previous code (float64 QRs of [B + dB_1 ..], float64
//               reflector products to the difference): a copy kept here as the baseline
//   fedsrd-e    no truncation (the target expanded in the updates)
// and multiplies by the projection's count for the whole model.
// scripts/bench/server_step.py times a bare PyTorch loop of the factored
// path on the same shapes in the same run and writes the table.
//
// Accuracy before timing: on the smallest shape, at client updates of
// 1e-1, 1e-2 and 1e-3 of the factors' scale, fedsrd's and the baseline's
// solved factors against a dense float64 reference (W_avg formed, full
// SVD, truncated, projected with a float64 pinv); fedsrd above 1e-5
// relative (of the largest entry) counts as wrong. On every shape (updates
// 1e-1), fedsrd against the baseline, wrong above 1e-4. Any wrong exits 1.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "dense_reference.h"
#include "flb/algo/fedsrd.h"
#include "flb/core/error.h"
#include "flb/model/llama.h"
#include "flb/model/llama_presets.h"

namespace {

using flb::algo::fedsrd::Factor;
using flb::linalg::LowRankSum;

struct Layer {
  torch::Tensor A, B;                   // global factors, (r, d_in) and (d_out, r)
  std::vector<torch::Tensor> dA, dB;    // the m clients' updates
  std::vector<float> w;                 // 1 / m each
  LowRankSum w_avg;                     // the m reconstructed client products
};

// A FedSRD round's server input: global factors of LoRA scale, client
// updates `scale` of them (clients agree on most of the product, as after
// a few rounds), so W_avg has r dominant directions and m r - r small ones.
Layer make_layer(int64_t d_out, int64_t d_in, int64_t m, int64_t r, uint64_t seed, torch::Device device,
                 double scale = 0.1) {
  torch::manual_seed(seed);
  Layer l;
  l.A = (torch::randn({r, d_in}) * 0.02).to(device);
  l.B = (torch::randn({d_out, r}) * 0.02).to(device);
  for (int64_t i = 0; i < m; ++i) {
    l.dA.push_back((torch::randn({r, d_in}) * (0.02 * scale)).to(device));
    l.dB.push_back((torch::randn({d_out, r}) * (0.02 * scale)).to(device));
    l.w.push_back(1.0f / static_cast<float>(m));
  }
  l.w_avg = flb::algo::fedsrd::reconstruct(l.A, l.B, l.dA, l.dB, l.w);
  return l;
}

// ---- BASELINE ONLY: the solve this change replaced ----------------------
// float64 Householder QRs of [B + dB_1 ..] and [(A + dA_1)^T ..] (R = m r
// columns), the R x R core truncated, float64 reflector products to the
// difference. Needs R < min(d_out, d_in).
torch::Tensor before_solve(const Layer& l, Factor factor) {
  const torch::Tensor A64 = l.A.to(torch::kFloat64), B64 = l.B.to(torch::kFloat64);
  std::vector<torch::Tensor> Bs, At, w;
  for (size_t i = 0; i < l.dB.size(); ++i) {  // B + dB_i in float64, as that code did
    Bs.push_back(B64 + l.dB[i].to(torch::kFloat64));
    At.push_back((A64 + l.dA[i].to(torch::kFloat64)).t());
    w.push_back(torch::full({l.B.size(1)}, static_cast<double>(l.w[i]), Bs.back().options()));
  }
  const int64_t R = l.w_avg.rank_bound(), k = l.A.size(0);
  flb::require(R < std::min(l.B.size(0), l.A.size(1)), "server_bench: the baseline needs m r < min(d_out, d_in)");
  torch::Tensor qb, tau_b, qa, tau_a, Uc, S, Vch;
  std::tie(qb, tau_b) = torch::geqrf(torch::cat(Bs, 1));
  std::tie(qa, tau_a) = torch::geqrf(torch::cat(At, 1));
  const torch::Tensor Rb = qb.narrow(0, 0, R).triu(), Ra = qa.narrow(0, 0, R).triu();
  std::tie(Uc, S, Vch) = torch::linalg_svd((Rb * torch::cat(w)).matmul(Ra.t()), false);
  const torch::Tensor core_k = (Uc.narrow(1, 0, k) * S.narrow(0, 0, k)).matmul(Vch.narrow(0, 0, k));
  const auto apply_q = [](const torch::Tensor& q, const torch::Tensor& tau, const torch::Tensor& X) {
    torch::Tensor padded = torch::zeros({q.size(0), X.size(1)}, X.options());
    padded.narrow(0, 0, X.size(0)).copy_(X);
    return torch::ormqr(q, tau, padded, true, false);
  };
  const auto apply_qt = [](const torch::Tensor& q, const torch::Tensor& tau, const torch::Tensor& Y) {
    return torch::ormqr(q, tau, Y.contiguous(), true, true).narrow(0, 0, q.size(1));
  };
  if (factor == Factor::kA) {
    const torch::Tensor Bp = flb::linalg::pinv(B64);
    const torch::Tensor PWk = apply_q(qa, tau_a, core_k.t().matmul(apply_qt(qb, tau_b, Bp.t()))).t();
    return (PWk - Bp.matmul(B64).matmul(A64)).to(torch::kFloat32);
  }
  const torch::Tensor Ap = flb::linalg::pinv(A64);
  const torch::Tensor WkQ = apply_q(qb, tau_b, core_k.matmul(apply_qt(qa, tau_a, Ap)));
  return (WkQ - B64.matmul(A64.matmul(Ap))).to(torch::kFloat32);
}

torch::Tensor fedsrd_solve(const Layer& l, Factor factor, bool truncate) {
  return flb::algo::fedsrd::solve(l.A, l.B, l.dA, l.dB, l.w, factor, truncate);
}

// ---- the dense float64 reference (dense_reference.h) --------------------
torch::Tensor reference_solve(const Layer& l, Factor factor, bool truncate = true) {
  return flb_bench::fedsrd_solve(l.A, l.B, l.dA, l.dB, l.w, factor, truncate);
}

double rel_diff(const torch::Tensor& got, const torch::Tensor& want) { return flb_bench::max_rel_diff(got, want); }

double seconds_of(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Median over reps (after one warm-up) of the mean of an A- and a B-round;
// reading one value of the result waits for a GPU to finish.
double median_round_seconds(int reps, const std::function<torch::Tensor(Factor)>& step) {
  std::vector<double> t;
  const auto waited = [&](Factor f) { (void)step(f).sum().item<double>(); };
  for (int i = 0; i <= reps; ++i) {
    const double s = seconds_of([&] { waited(Factor::kA); }) + seconds_of([&] { waited(Factor::kB); });
    if (i > 0) t.push_back(s / 2);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Options {
  std::string model = "llama-3.2-3b", json, device = "cpu";
  int64_t clients = 4, rank = 64;
  int reps = 3;
  int threads = 0;  // 0: LibTorch's default
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--model" && has_value) o.model = argv[++i];
    else if (a == "--clients" && has_value) o.clients = std::stoll(argv[++i]);
    else if (a == "--rank" && has_value) o.rank = std::stoll(argv[++i]);
    else if (a == "--reps" && has_value) o.reps = std::stoi(argv[++i]);
    else if (a == "--json" && has_value) o.json = argv[++i];
    else if (a == "--device" && has_value) o.device = argv[++i];
    else if (a == "--threads" && has_value) o.threads = std::stoi(argv[++i]);
    else throw flb::Error("server_bench: unknown or incomplete option '" + a +
                          "'; usage: server_bench [--model NAME] [--clients M] [--rank R] [--reps N] [--device cpu|cuda] [--threads N] [--json FILE]");
  }
  flb::require(o.clients >= 1 && o.rank >= 1 && o.reps >= 1, "server_bench: --clients, --rank and --reps must be >= 1");
  flb::require(o.device == "cpu" || o.device == "cuda", "server_bench: --device: choose cpu or cuda");
  flb::require(o.device == "cpu" || torch::cuda::is_available(), "server_bench: --device cuda: no CUDA device is visible");
  return o;
}

int run(const Options& o) {
  torch::NoGradGuard no_grad;
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const torch::Device device(o.device == "cuda" ? torch::kCUDA : torch::kCPU);
  const auto shapes = flb::model::lora_projection_shapes(flb::model::llama_preset(o.model),
                                                         flb::model::parse_llama_lora_targets("all"));
  int wrong = 0;
  std::ofstream json;
  if (!o.json.empty()) {
    json.open(o.json);
    flb::require(static_cast<bool>(json), "server_bench: cannot write " + o.json);
    json << "{\"model\": \"" << o.model << "\", \"clients\": " << o.clients << ", \"rank\": " << o.rank
         << ", \"device\": \"" << o.device << "\", \"threads\": " << torch::get_num_threads();
  }
  {  // the reference on the smallest shape
    const auto smallest = *std::min_element(shapes.begin(), shapes.end(), [](const auto& a, const auto& b) {
      return a.d_out * a.d_in < b.d_out * b.d_in;
    });
    if (json.is_open()) json << ", \"accuracy_shape\": \"" << smallest.name << "\", \"accuracy\": [";
    const double scales[] = {1e-1, 1e-2, 1e-3};
    for (size_t i = 0; i < 3; ++i) {
      const Layer l = make_layer(smallest.d_out, smallest.d_in, o.clients, o.rank, 1, device, scales[i]);
      double d_new = 0, d_old = 0, d_e = 0;
      for (Factor f : {Factor::kA, Factor::kB}) {
        const torch::Tensor ref = reference_solve(l, f);
        d_new = std::max(d_new, rel_diff(fedsrd_solve(l, f, true), ref));
        d_old = std::max(d_old, rel_diff(before_solve(l, f), ref));
        d_e = std::max(d_e, rel_diff(fedsrd_solve(l, f, false), reference_solve(l, f, false)));
      }
      std::printf("# %s, updates %.0e of the factors: max rel diff from the dense float64 reference: fedsrd %.2e, "
                  "before %.2e, fedsrd-e %.2e (tolerance 1e-5)\n", smallest.name.c_str(), scales[i], d_new, d_old, d_e);
      wrong += d_new > 1e-5;
      wrong += d_e > 1e-5;
      if (json.is_open())
        json << (i ? ", " : "") << "{\"scale\": " << scales[i] << ", \"fedsrd\": " << d_new << ", \"before\": " << d_old
             << ", \"fedsrd_e\": " << d_e << "}";
    }
    if (json.is_open()) json << "], \"shapes\": [";
  }
  std::printf("# %-9s %6s %6s %5s %12s %12s %12s %10s\n", "proj", "d_out", "d_in", "count", "fedsrd_ms", "before_ms",
              "fedsrd-e_ms", "vs_before");
  double total[3] = {0, 0, 0};
  for (size_t i = 0; i < shapes.size(); ++i) {
    const auto& s = shapes[i];
    const Layer l = make_layer(s.d_out, s.d_in, o.clients, o.rank, 2 + i, device);
    for (Factor f : {Factor::kA, Factor::kB}) {
      const double d = rel_diff(fedsrd_solve(l, f, true), before_solve(l, f));
      if (d > 1e-4) {
        std::printf("# WRONG: %s %s-round differs from the baseline by %.2e\n", s.name.c_str(), f == Factor::kA ? "A" : "B", d);
        ++wrong;
      }
    }
    const double t_new = median_round_seconds(o.reps, [&](Factor f) { return fedsrd_solve(l, f, true); });
    const double t_old = median_round_seconds(o.reps, [&](Factor f) { return before_solve(l, f); });
    const double t_e = median_round_seconds(o.reps, [&](Factor f) { return fedsrd_solve(l, f, false); });
    std::printf("  %-9s %6lld %6lld %5lld %12.2f %12.2f %12.2f %10.2f\n", s.name.c_str(), static_cast<long long>(s.d_out),
                static_cast<long long>(s.d_in), static_cast<long long>(s.count), 1e3 * t_new, 1e3 * t_old, 1e3 * t_e,
                t_new / t_old);
    std::fflush(stdout);
    total[0] += s.count * t_new;
    total[1] += s.count * t_old;
    total[2] += s.count * t_e;
    if (json.is_open())
      json << (i ? ", " : "") << "{\"name\": \"" << s.name << "\", \"d_out\": " << s.d_out << ", \"d_in\": " << s.d_in
           << ", \"count\": " << s.count << ", \"fedsrd_s\": " << t_new << ", \"before_s\": " << t_old
           << ", \"fedsrd_e_s\": " << t_e << "}";
  }
  std::printf("# whole model: fedsrd %.2f s, before %.2f s, fedsrd-e %.2f s per round; #wrong %d\n", total[0], total[1],
              total[2], wrong);
  if (json.is_open()) json << "], \"wrong\": " << wrong << "}\n";
  return wrong ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "server_bench: %s\n", e.what());
    return 2;
  }
}
