// flcomm's stand-in for a model: only the LoRA factors of a real model's
// adapted projections, at their shapes, so payloads of Llama-3-8B size
// can be built and aggregated without its 16 GB of frozen weights.
//
// Each adapted projection W (d_out, d_in) is one model::LowRankLayer with
// one pair, A = down(0) (r, d_in) and B = up(0) (d_out, r), registered as
// the module's only parameters: the LoRA algorithms find them through
// low_rank_layers() as they do in a Llama, and the dense ones (top-k,
// LBGM) communicate them as their whole parameter list. base() is a
// broadcast zero of W's shape (no storage); forward() is not provided.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flb/model/llama_presets.h"

namespace flcomm {

// The projections one payload covers, `count` layers of each shape.
struct Workload {
  std::string name;                                    // preset name or "custom"
  std::vector<flb::model::ProjectionShape> shapes;
  // Float32 values of one client's dense upload at LoRA rank r.
  int64_t factor_values(int64_t r) const;
  int64_t layers() const;
};

// The preset `name` (model/llama_presets.h) with every projection adapted.
Workload preset_workload(const std::string& name);
// `layers` layers of each "OUTxIN" in `dims` ("4096x4096,1024x4096").
// Throws flb::Error naming the bad entry.
Workload custom_workload(int64_t layers, const std::string& dims);

// The factors of `w` at rank r, in layer-major order (layer 0's shapes,
// then layer 1's, ...), as a trained adapter looks: A ~ U(-1/sqrt(d_in),
// 1/sqrt(d_in)), B ~ N(0, 0.02^2) (not 0: FedSRD inverts it), drawn from
// `seed`, so every rank builds the same.
std::shared_ptr<torch::nn::Module> make_factor_model(const Workload& w, int64_t r, uint64_t seed, double alpha);

}  // namespace flcomm
