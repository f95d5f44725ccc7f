// flcomm's check of rank 0's aggregation against a plain reference
// computed from the decoded uploads (round_bench.h lists which check each
// algorithm gets and its tolerance).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/algo/algorithm.h"

namespace flcomm {

struct AggregateCheck {
  int64_t wrong = -1;     // tensors or layers outside tolerance; -1: not checked
  double max_error = 0;   // the largest relative error seen
  double tolerance = 0;
  std::string what;       // what was compared
};

// `download` is algorithm's aggregate(round, uploads, global) and
// `download_sparsity` FedSRD's q (survivors / (1 - q)).
AggregateCheck check_aggregate(const flb::algo::Algorithm& algorithm, const std::vector<flb::algo::Upload>& uploads,
                               const flb::algo::Tensors& global, const flb::compress::Payload& download,
                               double download_sparsity);

// Part `p` as a dense float32 tensor shaped like `like` (sparse parts
// scattered into zeros). REQUIRES: p is dense or sparse.
torch::Tensor dense_of(const flb::compress::Part& p, const torch::Tensor& like);

}  // namespace flcomm
