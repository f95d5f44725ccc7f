// FedSRD and FedSRD-e (fedsrd.h has the server's steps).
//
// Client: per layer, per matrix (each dA and each dB separately), an
// importance-aware unstructured sparsification of the dense local update:
//
//   I(dB[u,v]) = |dB[u,v]| ||A_prev[v,:]||     I(dA[u,v]) = |dA[u,v]| ||B_new[:,u]||
//
// dropping the round(p n) lowest scores, p fixed (--upload-sparsity) or
// adaptive from the kurtosis of the importance scores; survivors rescaled
// to keep the matrix's L1 norm (the authors' code; the paper omits it:
// --no-l1-rescale). --sparsifier magnitude | random replace the scores by
// |d| or by uniform draws (Stream(seed, kClientMask, client, round)) for
// the paper's ablations; the drop ratio is the same in all three (adaptive:
// from the importance scores).
//
// Server: reconstruct, average, truncate, project, sparsify (fedsrd.h),
// then broadcast only the sparse factor update; every rank, the server
// included, adds the same sparse delta (the authors' code; the paper's
// Algorithm 1 updates the server with the dense delta).
//
// w_i defaults to 1 / m (--aggregation-weights auto = uniform), as the
// paper and its run scripts. --no-reconstruction (FedSRD only, the paper's
// ablation "without reconstruction") averages A and B of the sparse uploads
// separately instead, and broadcasts both averages through the same random
// download sparsification (our reading: only the server step is ablated);
// --no-reconstruction-factors alternating broadcasts only the round's
// factor, so that the ablation moves FedSRD's bytes.
#include "flb/algo/fedsrd.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "flb/algo/fedavg.h"
#include "flb/algo/lora.h"
#include "flb/algo/option_choice.h"
#include "flb/algo/rank_fold.h"
#include "flb/compress/importance.h"
#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::algo {
namespace fedsrd {

Factor factor_of_round(int64_t round, bool first_b) {
  return ((round % 2 == 0) == first_b) ? Factor::kB : Factor::kA;
}

linalg::LowRankSum reconstruct(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                               const std::vector<torch::Tensor>& dB, const std::vector<float>& w) {
  require(dA.size() == w.size() && dB.size() == w.size(), "fedsrd::reconstruct: one dA, dB and weight per client");
  linalg::LowRankSum sum;
  for (size_t i = 0; i < w.size(); ++i) {
    sum.B.push_back(B + dB[i]);  // (d_out, r)
    sum.A.push_back(A + dA[i]);  // (r, d_in)
    sum.w.push_back(w[i]);
  }
  return sum;
}

namespace {

// FedSRD's target W_r - B A, with B A cancelled inside the float64 core of
// the stacks [B, dB_1 ..] and [A^T, dA_1^T ..] (linalg::base_left_pinv_delta).
torch::Tensor solve_truncated(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                              const std::vector<torch::Tensor>& dB, const std::vector<float>& w, Factor factor,
                              linalg::TruncationReport* report) {
  linalg::SharedBaseSum sum{A, B, dA, dB, std::vector<double>(w.begin(), w.end())};
  const int64_t k = std::min({A.size(0), B.size(0), A.size(1)});
  const torch::Tensor solved = factor == Factor::kA ? linalg::base_left_pinv_delta(sum, k, report)
                                                    : linalg::base_right_pinv_delta(sum, k, report);
  return solved.to(torch::kFloat32);
}

// FedSRD-e's target W_avg - B A expanded in the updates, so no term is of
// B A's size and float32 keeps its digits (s = sum_i w_i):
//   W_avg - B A = sum_i w_i (dB_i (A + dA_i) + B dA_i) + (s - 1) B A
// A-round, X_i = pinv(B) dB_i, G = pinv(B) B:
//   pinv(B) dW = (sum_i w_i X_i + (s - 1) G) A + sum_i w_i (X_i + G) dA_i
// B-round, Y_i = dA_i pinv(A), H = A pinv(A):
//   dW pinv(A) = sum_i w_i dB_i (H + Y_i) + B (sum_i w_i Y_i + (s - 1) H)
torch::Tensor solve_untruncated(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                                const std::vector<torch::Tensor>& dB, const std::vector<float>& w, Factor factor) {
  double s = 0;
  for (float wi : w) s += wi;
  std::vector<torch::Tensor> stacked_left, stacked_right;
  if (factor == Factor::kA) {
    const torch::Tensor Bp = linalg::pinv(B), G = Bp.matmul(B);  // (r, d_out), (r, r)
    torch::Tensor on_A = (s - 1) * G;
    for (size_t i = 0; i < w.size(); ++i) {
      const torch::Tensor X = Bp.matmul(dB[i]);
      on_A = on_A + w[i] * X;
      stacked_left.push_back(w[i] * (X + G));
      stacked_right.push_back(dA[i]);
    }
    return on_A.matmul(A) + torch::cat(stacked_left, 1).matmul(torch::cat(stacked_right, 0));
  }
  const torch::Tensor Ap = linalg::pinv(A), H = A.matmul(Ap);  // (d_in, r), (r, r)
  torch::Tensor on_B = (s - 1) * H;
  for (size_t i = 0; i < w.size(); ++i) {
    const torch::Tensor Y = dA[i].matmul(Ap);
    on_B = on_B + w[i] * Y;
    stacked_left.push_back(dB[i]);
    stacked_right.push_back(w[i] * (H + Y));
  }
  return torch::cat(stacked_left, 1).matmul(torch::cat(stacked_right, 0)) + B.matmul(on_B);
}

}  // namespace

// FedSRD-e's report: no truncation; the inverted factor's singular values.
void report_untruncated(const torch::Tensor& inverted, linalg::TruncationReport* report) {
  if (!report) return;
  const torch::Tensor sigma = torch::linalg_svdvals(inverted.to(torch::kFloat64));  // descending
  report->truncation_error = std::nan("");
  report->inverted_sigma_max = sigma[0].item<double>();
  report->inverted_sigma_min = sigma[-1].item<double>();
}

torch::Tensor solve(const torch::Tensor& A, const torch::Tensor& B, const std::vector<torch::Tensor>& dA,
                    const std::vector<torch::Tensor>& dB, const std::vector<float>& w, Factor factor, bool truncate,
                    linalg::TruncationReport* report) {
  (void)reconstruct(A, B, dA, dB, w);  // validates the shapes
  if (truncate) return solve_truncated(A, B, dA, dB, w, factor, report);
  report_untruncated(factor == Factor::kA ? B : A, report);
  std::vector<torch::Tensor> dA32, dB32;
  for (size_t i = 0; i < w.size(); ++i) {
    dA32.push_back(dA[i].to(torch::kFloat32));
    dB32.push_back(dB[i].to(torch::kFloat32));
  }
  return solve_untruncated(A.to(torch::kFloat32), B.to(torch::kFloat32), dA32, dB32, w, factor);
}

namespace {

// FedSRD-e's target from the folded W (s, a, b and the updates' products
// as pairs), expanded as solve_untruncated above:
//   A-round: pinv(B) dW = ((s - 1) G + pinv(B) b) A + G a + pinv(B) [L_j] [R_j]
//   B-round: dW pinv(A) = B ((s - 1) H + a pinv(A)) + b H + [L_j] ([R_j] pinv(A))
torch::Tensor solve_untruncated(const linalg::FoldedBaseSum& f, Factor factor) {
  const torch::Tensor A = f.A.to(torch::kFloat32), B = f.B.to(torch::kFloat32);
  const torch::Tensor a = f.a.to(torch::kFloat32), b = f.b.to(torch::kFloat32);
  std::vector<torch::Tensor> L, R;
  for (size_t j = 0; j < f.L.size(); ++j) {
    if (f.L[j].size(1) == 0) continue;
    L.push_back(f.L[j].to(torch::kFloat32));
    R.push_back(f.R[j].to(torch::kFloat32));
  }
  if (factor == Factor::kA) {
    const torch::Tensor Bp = linalg::pinv(B), G = Bp.matmul(B);  // (r, d_out), (r, r)
    torch::Tensor out = ((f.s - 1) * G + Bp.matmul(b)).matmul(A) + G.matmul(a);
    return L.empty() ? out : out + Bp.matmul(torch::cat(L, 1)).matmul(torch::cat(R, 0));
  }
  const torch::Tensor Ap = linalg::pinv(A), H = A.matmul(Ap);  // (d_in, r), (r, r)
  torch::Tensor out = B.matmul((f.s - 1) * H + a.matmul(Ap)) + b.matmul(H);
  return L.empty() ? out : out + torch::cat(L, 1).matmul(torch::cat(R, 0).matmul(Ap));
}

}  // namespace

torch::Tensor solve(const linalg::FoldedBaseSum& folded, Factor factor, bool truncate, linalg::TruncationReport* report) {
  linalg::validate(folded);
  if (truncate) {
    const int64_t k = std::min({folded.A.size(0), folded.B.size(0), folded.A.size(1)});
    const torch::Tensor solved = factor == Factor::kA ? linalg::base_left_pinv_delta(folded, k, report)
                                                      : linalg::base_right_pinv_delta(folded, k, report);
    return solved.to(torch::kFloat32);
  }
  report_untruncated(factor == Factor::kA ? folded.B : folded.A, report);
  return solve_untruncated(folded, factor);
}

}  // namespace fedsrd

namespace {

// --sparsifier: which elements a client keeps.
enum class Sparsifier { kImportance, kMagnitude, kRandom };

struct FedSrdOptions : OptionGroup {
  double upload_sparsity = 0.9;     // fraction of each matrix's elements a client drops
  bool adaptive_sparsity = false;   // drop ratio per matrix from the kurtosis of its scores
  double adaptive_base = 0.85;      //   p = base + min(upper, coeff * ln(max(k, 1)))
  double adaptive_coeff = 0.1;
  double adaptive_upper = 0.11;
  Sparsifier sparsifier = Sparsifier::kImportance;  // magnitude, random: ablations
  bool l1_rescale = true;           // survivors keep each matrix's L1 norm (authors' code)
  double download_sparsity = 0.8;   // drop probability of each element of the broadcast factor
  fedsrd::Factor first_round = fedsrd::Factor::kB;  // b (paper) | a (authors' code)
  bool reconstruction = true;       // fedsrd: false = naive A/B averaging of the sparse uploads (ablation)
  bool naive_alternating = false;   // --no-reconstruction: broadcast only the round's factor, as FedSRD

  void add_options(CLI::App& app) override;
  void validate(const Options&) const override;
};

void FedSrdOptions::add_options(CLI::App& app) {
  const char* A = kOptionsHelpGroup;
  app.add_option("--upload-sparsity", upload_sparsity,
                 "fedsrd, fedsrd-e: fraction p of each dA, dB a client drops (fixed; see --adaptive-sparsity)")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_flag("--adaptive-sparsity,!--no-adaptive-sparsity", adaptive_sparsity,
               "fedsrd, fedsrd-e: drop ratio per matrix p = base + min(upper, coeff * ln(kurtosis of its scores))")->group(A);
  app.add_option("--adaptive-base", adaptive_base, "fedsrd, fedsrd-e: base of the adaptive drop ratio")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  app.add_option("--adaptive-coeff", adaptive_coeff, "fedsrd, fedsrd-e: coefficient of ln(kurtosis) in the adaptive drop ratio")
      ->check(CLI::Range(0.0, 1.0))->group(A);
  app.add_option("--adaptive-upper", adaptive_upper, "fedsrd, fedsrd-e: cap on the kurtosis term of the adaptive drop ratio")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  add_choice(app, "--sparsifier", sparsifier,
             {{"importance", Sparsifier::kImportance}, {"magnitude", Sparsifier::kMagnitude}, {"random", Sparsifier::kRandom}},
             "fedsrd, fedsrd-e: which elements a client keeps: importance (|d| x norm of the other factor), "
             "magnitude (|d|), random (ablations)")
      ->group(A);
  app.add_flag("--l1-rescale,!--no-l1-rescale", l1_rescale,
               "fedsrd, fedsrd-e: rescale a sparsified matrix's survivors to keep its L1 norm (the authors' code)")
      ->default_str(on_off(l1_rescale))->group(A);
  app.add_option("--download-sparsity", download_sparsity,
                 "fedsrd, fedsrd-e: probability of dropping each element of the broadcast factor update (survivors / (1 - q))")
      ->check(CLI::Range(0.0, 0.999999))->group(A);
  add_choice(app, "--fedsrd-first-round", first_round, {{"a", fedsrd::Factor::kA}, {"b", fedsrd::Factor::kB}},
             "fedsrd, fedsrd-e: factor solved in round 1, then alternating: b (the paper) or a (the authors' code; "
             "with B = 0 its first round changes nothing)")
      ->group(A);
  app.add_flag("--reconstruction,!--no-reconstruction", reconstruction,
               "fedsrd: reconstruct-and-decompose on the server; --no-reconstruction averages A and B of the sparse "
               "uploads instead (the paper's ablation)")
      ->default_str(on_off(reconstruction))->group(A);
  add_choice(app, "--no-reconstruction-factors", naive_alternating, {{"both", false}, {"alternating", true}},
             "fedsrd --no-reconstruction: broadcast both averaged factors every round (both), or only the factor "
             "FedSRD solves that round (alternating: FedSRD's download bytes, an ablation at equal budget)")
      ->group(A);
}

void FedSrdOptions::validate(const Options&) const {
  require(upload_sparsity >= 0 && upload_sparsity < 1, "--upload-sparsity: must be in [0, 1)");
  require(adaptive_base >= 0 && adaptive_coeff >= 0 && adaptive_upper >= 0 && adaptive_base + adaptive_upper < 1,
          "--adaptive-base/--adaptive-coeff/--adaptive-upper: must be non-negative with base + upper < 1");
  require(download_sparsity >= 0 && download_sparsity < 1, "--download-sparsity: must be in [0, 1)");
}

class FedSrd : public LoraAlgorithm, public FoldsPerRank {
 public:
  FedSrd(const LoraOptions& c, const FedSrdOptions& o, uint64_t seed, bool truncate)
      : LoraAlgorithm(c, seed, /*train_a=*/true, AggregationWeights::kUniform), options_(o), truncate_(truncate) {
    require(truncate || o.reconstruction, "--no-reconstruction: only for fedsrd (fedsrd-e always reconstructs)");
    require(!o.naive_alternating || !o.reconstruction,
            "--no-reconstruction-factors alternating: only with --no-reconstruction (FedSRD's own server step "
            "always broadcasts one factor)");
    ratio_.base = o.adaptive_base;
    ratio_.coeff = o.adaptive_coeff;
    ratio_.upper = o.adaptive_upper;
  }
  uint8_t upload_kinds() const override { return compress::kSparseOnly; }
  // The sparse factor update(s) of each layer.
  compress::WireSchema download_schema(const Tensors& tensors) const override {
    return compress::WireSchema::uniform(wire_id(), numels(tensors), compress::kSparseOnly, compress::Presence::kAtMostOnce);
  }

  compress::Payload encode_upload(const ClientContext& ctx, const Tensors& global, const Tensors& local) override {
    torch::NoGradGuard no_grad;
    compress::Payload p = empty_upload(ctx);
    Stream random_scores(seed_, StreamPurpose::kClientMask, static_cast<uint64_t>(ctx.client),
                         static_cast<uint64_t>(ctx.round));
    for (size_t l = 0; l < slots().size(); ++l) {
      const size_t ia = a_index(l), ib = b_index(l);
      const torch::Tensor dA = as_matrix(local[ia] - global[ia]), dB = as_matrix(local[ib] - global[ib]);
      require(torch::isfinite(dA).all().item<bool>() && torch::isfinite(dB).all().item<bool>(),
              "client " + std::to_string(ctx.client) + " diverged (its LoRA update is not finite); lower --lr");
      const torch::Tensor I_A = compress::importance_dA(dA, as_matrix(local[ib]));   // B_new: the client's dense B
      const torch::Tensor I_B = compress::importance_dB(dB, as_matrix(global[ia]));  // A_prev: the global A
      p.parts.push_back(sparsify(ia, dA, I_A, random_scores));
      p.parts.push_back(sparsify(ib, dB, I_B, random_scores));
    }
    return p;
  }

  compress::Payload aggregate(int64_t round, const std::vector<Upload>& uploads, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    diagnostics_.clear();
    const std::vector<double> dropped = diagnose_ ? mean_dropped(uploads, global.size()) : std::vector<double>{};
    if (!options_.reconstruction)
      return sparsify_means(round, weighted_mean_of_parts(uploads, global, weights(uploads)), dropped, global);
    const std::vector<Tensors> deltas = upload_deltas(uploads, global);
    const std::vector<float> w = weights(uploads);
    return solve_and_sparsify(round, dropped, global, [&](size_t l, fedsrd::Factor factor, linalg::TruncationReport* report) {
      std::vector<torch::Tensor> dA, dB;
      for (const Tensors& d : deltas) {
        dA.push_back(as_matrix(d[a_index(l)]));
        dB.push_back(as_matrix(d[b_index(l)]));
      }
      return fedsrd::solve(as_matrix(global[a_index(l)]), as_matrix(global[b_index(l)]), dA, dB, w, factor, truncate_,
                           report);  // reconstruct, average, truncate, project
    });
  }

  // Hierarchical aggregation (rank_fold.h): the same steps from the ranks' folds.
  RankFold fold_rank(const std::vector<Upload>& uploads, const Tensors& global) const override {
    return fold_uploads(*this, uploads, global);
  }
  compress::Payload aggregate_folds(int64_t round, const std::vector<RankFold>& folds, const Tensors& global) override {
    torch::NoGradGuard no_grad;
    diagnostics_.clear();
    std::vector<double> dropped;
    const std::vector<linalg::FoldedBaseSum> merged = merge_folds(*this, folds, global, &dropped);
    if (!options_.reconstruction) {  // the weighted means of dA and dB are a and b
      Tensors mean(global.size());
      for (size_t l = 0; l < slots().size(); ++l) {
        mean[a_index(l)] = merged[l].a.reshape(global[a_index(l)].sizes());
        mean[b_index(l)] = merged[l].b.reshape(global[b_index(l)].sizes());
      }
      return sparsify_means(round, mean, dropped, global);
    }
    return solve_and_sparsify(round, dropped, global, [&](size_t l, fedsrd::Factor factor, linalg::TruncationReport* report) {
      return fedsrd::solve(merged[l], factor, truncate_, report);
    });
  }

  void apply_download(int64_t, Tensors& global, const compress::Payload& download) override {
    add_download(global, download);  // the same sparse delta on every rank, the server's included
  }

 private:
  // One matrix's sparse upload part.
  compress::Part sparsify(size_t tensor, const torch::Tensor& values, const torch::Tensor& importance, Stream& random_scores) {
    const double p = options_.adaptive_sparsity
                         ? compress::adaptive_drop_ratio(compress::pearson_kurtosis(importance), ratio_)
                         : options_.upload_sparsity;
    torch::Tensor scores = importance;
    if (options_.sparsifier == Sparsifier::kMagnitude) {
      scores = values.abs();
    } else if (options_.sparsifier == Sparsifier::kRandom) {
      scores = torch::empty(values.sizes(), torch::kFloat64);
      double* s = scores.data_ptr<double>();
      for (int64_t i = 0; i < scores.numel(); ++i) s[i] = random_scores.uniform();
    }
    compress::Part part = compress::sparsify_by_score(values, scores, std::min(p, 1.0), options_.l1_rescale);
    part.tensor = static_cast<uint32_t>(tensor);
    return part;
  }

  // One layer's /server_diagnostics row (server_diagnostics.h). dropped:
  // mean_dropped of the round's uploads. `report` null: nothing was
  // truncated or inverted (--no-reconstruction).
  ServerDiagnostic diagnose(size_t l, int64_t solved_factor, const Tensors& global, const std::vector<double>& dropped,
                            const torch::Tensor& update, const std::vector<const compress::Part*>& broadcast,
                            const linalg::TruncationReport* report) const {
    const size_t ia = a_index(l), ib = b_index(l);
    ServerDiagnostic d;
    d.layer = static_cast<int64_t>(l);
    d.solved_factor = solved_factor;
    d.a_norm = global[ia].norm().item<double>();
    d.b_norm = global[ib].norm().item<double>();
    const double nan = std::nan("");
    d.inverted_sigma_min = report ? report->inverted_sigma_min : nan;
    d.inverted_sigma_max = report ? report->inverted_sigma_max : nan;
    d.truncation_error = report ? report->truncation_error : nan;
    d.update_norm = update.norm().item<double>();
    d.upload_sparsity_a = dropped[ia];
    d.upload_sparsity_b = dropped[ib];
    double sent = 0, numel = 0;
    for (const compress::Part* part : broadcast) {
      sent += static_cast<double>(part->count());
      numel += static_cast<double>(part->numel);
    }
    d.download_sparsity = 1.0 - sent / numel;
    return d;
  }

  // Per tensor, the fraction of its elements the uploads left out,
  // averaged over the uploads: one pass over every upload's parts.
  static std::vector<double> mean_dropped(const std::vector<Upload>& uploads, size_t tensors) {
    std::vector<double> sum = dropped_sums(uploads, tensors);
    for (double& s : sum) s = uploads.empty() ? 0.0 : s / static_cast<double>(uploads.size());
    return sum;
  }

  compress::Part download_part(size_t tensor, const torch::Tensor& update, Stream& mask) const {
    compress::Part part = compress::random_drop(update, options_.download_sparsity, mask);
    part.tensor = static_cast<uint32_t>(tensor);
    return part;
  }

  compress::Payload broadcast() const {
    compress::Payload out;
    out.algorithm = wire_id();
    out.client = compress::kServerId;
    return out;
  }

  // Per layer: the round's factor update from `solve` (which fills the
  // report when given one), sparsified into the broadcast. dropped:
  // mean_dropped of the round's uploads (only read when diagnosing).
  using Solver = std::function<torch::Tensor(size_t layer, fedsrd::Factor, linalg::TruncationReport*)>;
  compress::Payload solve_and_sparsify(int64_t round, const std::vector<double>& dropped, const Tensors& global,
                                       const Solver& solve) {
    const fedsrd::Factor factor = fedsrd::factor_of_round(round, options_.first_round == fedsrd::Factor::kB);
    compress::Payload out = broadcast();
    for (size_t l = 0; l < slots().size(); ++l) {
      const size_t solved_index = factor == fedsrd::Factor::kA ? a_index(l) : b_index(l);
      linalg::TruncationReport report;
      const torch::Tensor solved = solve(l, factor, diagnose_ ? &report : nullptr);
      Stream mask(seed_, StreamPurpose::kServerMask, static_cast<uint64_t>(round), l);
      out.parts.push_back(download_part(solved_index, solved, mask));  // sparsify
      if (diagnose_)
        diagnostics_.push_back(diagnose(l, factor == fedsrd::Factor::kA ? 0 : 1, global, dropped, solved,
                                        {&out.parts.back()}, &report));
    }
    return out;
  }

  // --no-reconstruction: FedIT's mean of the sparse uploads (`mean`, the
  // weighted mean of each tensor's deltas) through the random download
  // sparsification (one mask stream per layer, A drawn first): A and B of
  // every layer, or (alternating) only the factor FedSRD would solve this
  // round, so the ablation downloads FedSRD's bytes. Diagnostics: the
  // update's norm and the download's sparsity over the factors sent.
  compress::Payload sparsify_means(int64_t round, const Tensors& mean, const std::vector<double>& dropped,
                                   const Tensors& global) {
    const fedsrd::Factor factor = fedsrd::factor_of_round(round, options_.first_round == fedsrd::Factor::kB);
    const bool send_a = !options_.naive_alternating || factor == fedsrd::Factor::kA;
    const bool send_b = !options_.naive_alternating || factor == fedsrd::Factor::kB;
    compress::Payload out = broadcast();
    for (size_t l = 0; l < slots().size(); ++l) {
      Stream mask(seed_, StreamPurpose::kServerMask, static_cast<uint64_t>(round), l);
      const size_t first = out.parts.size();
      for (const auto& [send, tensor] : {std::pair{send_a, a_index(l)}, std::pair{send_b, b_index(l)}})
        if (send) out.parts.push_back(download_part(tensor, mean[tensor], mask));
      if (!diagnose_) continue;
      std::vector<const compress::Part*> parts;
      std::vector<torch::Tensor> sent;
      for (size_t i = first; i < out.parts.size(); ++i) {
        parts.push_back(&out.parts[i]);
        sent.push_back(mean[out.parts[i].tensor].flatten());
      }
      const int64_t solved = options_.naive_alternating ? (factor == fedsrd::Factor::kA ? 0 : 1) : -1;
      diagnostics_.push_back(diagnose(l, solved, global, dropped, torch::cat(sent), parts, nullptr));
    }
    return out;
  }

  FedSrdOptions options_;  // a copy: the values, not their CLI bindings
  bool truncate_;
  compress::AdaptiveRatio ratio_;
};

}  // namespace

std::unique_ptr<OptionGroup> fedsrd_options() { return std::make_unique<FedSrdOptions>(); }

std::unique_ptr<Algorithm> make_fedsrd(const Options& o, uint64_t seed) {
  return std::make_unique<FedSrd>(o.get<LoraOptions>(), o.get<FedSrdOptions>(), seed, /*truncate=*/true);
}
std::unique_ptr<Algorithm> make_fedsrd_e(const Options& o, uint64_t seed) {
  return std::make_unique<FedSrd>(o.get<LoraOptions>(), o.get<FedSrdOptions>(), seed, /*truncate=*/false);
}

}  // namespace flb::algo
