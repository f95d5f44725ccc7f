// Algorithms by name. Adding an algorithm is one file and one line in
// registry.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/core/config.h"

namespace flb::algo {

// Throws flb::Error listing the known names when `config.name` is unknown.
std::unique_ptr<Algorithm> make_algorithm(const AlgoConfig& config, uint64_t seed);

// Names accepted by make_algorithm, for --help.
std::vector<std::string> algorithm_names();

}  // namespace flb::algo
