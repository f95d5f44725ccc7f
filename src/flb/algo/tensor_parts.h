// Conversions between tensors and payload parts (compress/payload.h).
// Parts stay on the tensors' device, float32 (int32 positions); the wire
// format copies them once, straight from their storage.
#pragma once

#include <torch/types.h>

#include "flb/compress/payload.h"

namespace flb::algo {

// A dense part holding `t`'s values (flat; shares t's storage when t is
// contiguous float32, else a converted copy).
compress::Part dense_part(uint32_t tensor, const torch::Tensor& t);

// How many entries top-k keeps of a tensor of `numel`: ceil(ratio * numel),
// at least 1 (topk, and LBGM with --base-compressor topk).
int64_t top_k_count(double ratio, int64_t numel);

// A sparse part holding the k largest-magnitude entries of `g` (ties:
// LibTorch's topk order), positions ascending. When `kept` is not null it
// receives `g` with every other entry zeroed (same shape).
compress::Part top_k_part(uint32_t tensor, const torch::Tensor& g, int64_t k, torch::Tensor* kept = nullptr);

// A sparse part of `values` at `indices` (ascending, any integer dtype) of a
// tensor of `numel`, on their device.
compress::Part sparse_part(uint32_t tensor, uint64_t numel, const torch::Tensor& indices, const torch::Tensor& values);

// target += scale * part, for a dense or sparse part (the part's tensors are
// moved to target's device when they are elsewhere).
// REQUIRES: part.numel == target.numel(); target is contiguous float32.
void add_part(torch::Tensor& target, const compress::Part& part, float scale = 1.0f);

// A part's values as a dense CPU float tensor of `like`'s shape (a copy).
torch::Tensor part_to_dense(const compress::Part& part, const torch::Tensor& like);

}  // namespace flb::algo
