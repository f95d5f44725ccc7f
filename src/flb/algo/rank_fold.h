// Hierarchical aggregation (--aggregation hierarchical) of the algorithms
// that reconstruct the clients' products B_i A_i: FedSRD, FedSRD-e and
// FlexLoRA. Their server step is no function of the mean upload, but per
// LoRA layer it is a function of
//
//   W = sum_i w_i (B + dB_i)(A + dA_i) = s B A + B a + b A + sum_j L_j R_j
//
// (linalg::FoldedBaseSum), and every rank can fold its own clients' terms
// into s, a, b and one QR-reduced pair (L, R), which merge across ranks
// exactly. So each rank decodes and folds its clients' uploads, the folds
// travel to rank 0 (sim/hierarchical.h packs them), and rank 0 runs the
// server step on their merge.
//
// What this buys and what it costs: rank 0 no longer decodes every upload,
// and a rank's fold stays at most (min(d_out, d_in) + 2 r)(d_out + d_in)
// values per layer however many clients it hosts. A fold is dense, though:
// while a rank's clients stack fewer than min(d) columns, it is larger than
// their uploads (FedSRD's are ~5% dense). /rounds bytes_moved counts what
// moved.
#pragma once

#include <cstdint>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/linalg/low_rank.h"

namespace flb::algo {

class LoraAlgorithm;

// One rank's accepted uploads, folded.
struct RankFold {
  // Per LoRA layer: s, a, b, L, R with the raw weights (w_i = 1 under
  // uniform weights, else the client's samples); A and B are not set (every
  // rank holds them: the global factors).
  std::vector<linalg::FoldedBaseSum> layers;
  // Per tensor: the sum over the uploads of the fraction of its elements
  // the upload left out (FedSRD's /server_diagnostics upload sparsity).
  std::vector<double> dropped;
  double uploads = 0;
};

// Per tensor of `tensors`, the sum over the uploads of the fraction of its
// elements each left out (FedSRD's upload sparsity; a fold's `dropped`).
std::vector<double> dropped_sums(const std::vector<Upload>& uploads, size_t tensors);

// Every rank: the fold of `uploads` (its accepted uploads, ascending client
// id) for every layer of `algorithm`. No uploads: s = 0, a = b = 0 and an
// empty pair.
RankFold fold_uploads(const LoraAlgorithm& algorithm, const std::vector<Upload>& uploads, const Tensors& global);

// Rank 0: per layer, the ranks' folds (rank order) merged with the global
// A, B as the base and scaled by 1 / the total weight, as the central
// server's normalised weights; `mean_dropped` (when given) receives the
// mean of `dropped` over all the uploads.
// REQUIRES: some fold has an upload (else flb::Error).
std::vector<linalg::FoldedBaseSum> merge_folds(const LoraAlgorithm& algorithm, const std::vector<RankFold>& folds,
                                               const Tensors& global, std::vector<double>* mean_dropped = nullptr);

// What an algorithm that aggregates through folds implements (the round
// loop finds it with dynamic_cast).
class FoldsPerRank {
 public:
  virtual ~FoldsPerRank() = default;
  // Every rank: fold_uploads(*this, uploads, global).
  virtual RankFold fold_rank(const std::vector<Upload>& uploads, const Tensors& global) const = 0;
  // Rank 0: aggregate(round, uploads, global) of the uploads whose folds
  // these are (equal up to the order of the floating-point additions).
  virtual compress::Payload aggregate_folds(int64_t round, const std::vector<RankFold>& folds, const Tensors& global) = 0;
};

}  // namespace flb::algo
