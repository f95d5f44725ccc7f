// One factory per algorithm file; registry.cc maps names to them.
// (Internal to algo/: callers use registry.h.)
#pragma once

#include <memory>

#include "flb/algo/algorithm.h"
#include "flb/core/config.h"

namespace flb::algo {

std::unique_ptr<Algorithm> make_topk(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_lbgm(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fedloru(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_pfedloru(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_mfedloru(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fedit(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fedprox(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_ffa_lora(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_flexlora(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fed_dare(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fedsrd(const AlgoConfig& c, uint64_t seed);
std::unique_ptr<Algorithm> make_fedsrd_e(const AlgoConfig& c, uint64_t seed);

}  // namespace flb::algo
