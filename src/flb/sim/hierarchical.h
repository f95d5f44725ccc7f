// Hierarchical aggregation (--aggregation hierarchical): each rank
// combines its own clients' uploads, the ranks' sums are reduced to rank
// 0, and rank 0 finishes the algorithm's server step on their mean.
//
//   every rank   decode its clients' uploads (validated, as rank 0 would)
//                S_r = sum_{i on r} w_i d_i,  W_r = sum_{i on r} w_i,  per tensor the count of uploads sending it
//                (float32, in client order, as rank 0 sums in central mode)
//   reduce       S = sum_r S_r, W = sum_r W_r       (comm::Transport::reduce_sum: rank order, float64)
//   rank 0       m = S / W as one upload; aggregate(round, {m}, global)
//
// w_i = Algorithm::mean_weight; algorithms whose server step is a
// function of that mean take this path (Algorithm::aggregates_by_weighted_mean:
// FedAvg, top-k, FedIT, FedProx, FFA-LoRA, Fed-DARE). FedSRD, FedSRD-e and
// FlexLoRA, which reconstruct the clients' products, fold instead
// (algo/rank_fold.h):
//
//   every rank   decode its clients' uploads; per LoRA layer s_r, a_r, b_r
//                and one QR-reduced pair (L_r, R_r) (algo::fold_uploads)
//   gather       the folds, packed (pack_fold), to rank 0 (Transport::gatherv)
//   rank 0       merge them in rank order, scaled by 1 / sum_r s_r, and
//                run the server step on the merge (FoldsPerRank::aggregate_folds)
//
// The same W as central mode's, up to the order of the additions and the
// QR's rounding (tests/e2e/test_hierarchical.py measures the difference). Client state stays
// with the client's rank as in central mode (top-k's error-feedback
// residuals are the client's own), so results equal central mode's up to
// the order and weights of the floating-point additions: per-rank float32
// sums of w_i d_i divided by W at the end here, a float32 sum of
// (w_i / W) d_i there (tests/e2e/test_hierarchical.py measures the
// difference).
//
// What moves: each rank's S_r and the counts, 8 bytes per trained value,
// whatever the number of clients it hosts; a fold, 4 bytes per value of
// a_r, b_r, L_r, R_r per layer. /rounds bytes_moved counts them next to
// the clients' simulated upload bytes (bytes_gathered, /clients).
#pragma once

#include <cstdint>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/algo/rank_fold.h"
#include "flb/comm/transport.h"

namespace flb::sim {

// One rank's contribution, flattened for Transport::reduce_sum: every
// tensor's weighted sum (global's order and sizes), then per tensor the
// number of uploads that sent it, then the total weight and the tallies.
struct RankSum {
  std::vector<double> values;
};

// Tallies carried with the sums (they add across ranks like the sums).
struct Tallies {
  double weight = 0, accepted = 0, rejected = 0, parts = 0, scalar_parts = 0, clipped = 0;
  Tallies& operator+=(const Tallies& t);
};

// S_r, counts and tallies of this rank's accepted uploads.
// REQUIRES: every upload passed decode() against the algorithm's upload schema.
RankSum rank_sum(const algo::Algorithm& algorithm, const std::vector<algo::Upload>& uploads, const algo::Tensors& global,
                 const Tallies& tallies);

// The tallies inside a (reduced) RankSum.
Tallies tallies_of(const RankSum& sum, const algo::Tensors& global);

// Rank 0, from the reduced sum: the one upload m (dense float32 parts for
// the tensors some upload sent, samples 1) whose aggregate is the round's.
algo::Upload mean_upload(const RankSum& reduced, const algo::Tensors& global, uint16_t wire_id);

// One rank's fold and tallies as bytes for Transport::gatherv (float64
// scalars, float32 tensors, host byte order: the ranks of one job share it).
std::vector<uint8_t> pack_fold(const algo::RankFold& fold, const Tallies& tallies);

// The fold and tallies in `size` bytes from `rank`, host float32 tensors.
// Throws flb::Error naming the rank when the bytes end early, run on, or
// hold a shape that does not fit (a rank's fold is trusted no more than
// an upload).
struct UnpackedFold {
  algo::RankFold fold;
  Tallies tallies;
};
UnpackedFold unpack_fold(const uint8_t* data, size_t size, int rank);

// Rank 0: every rank's fold from the gathered buffers, in rank order; their
// tallies added into `total`. Throws as unpack_fold.
std::vector<algo::RankFold> unpack_folds(const comm::Gathered& gathered, Tallies& total);

}  // namespace flb::sim
