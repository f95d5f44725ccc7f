// Algorithms by name: the registry (registry.cc) holds one entry per
// algorithm: its name, its wire id, its factory and the option groups
// (options.h) it reads.
//
// Adding an algorithm: write algo/<name>.cc with the Algorithm subclass,
// its option group when it has options of its own, and a factory
// `std::unique_ptr<Algorithm> make_<name>(const Options&, uint64_t seed)`;
// then add its row (and the factory's name in the declaration above the
// table) to registry.cc, with a wire id no other row uses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "flb/algo/algorithm.h"
#include "flb/algo/options.h"
#include "flb/core/config.h"

namespace flb::algo {

// An algorithm factory: the algorithm from its option groups' values.
using Factory = std::unique_ptr<Algorithm>(const Options& options, uint64_t seed);

struct RegistryEntry {
  std::string name;                      // --algorithm NAME
  uint16_t wire_id = 0;                  // in every payload header: never reuse or renumber one
  Factory* make = nullptr;
  std::vector<NewOptionGroup*> options;  // the option groups it reads
};

// The registered algorithms, in --help order; checked (check_registry) on first use.
const std::vector<RegistryEntry>& registry();

// Throws flb::Error naming both entries when two share a name or a wire
// id, or when one lacks a name, a factory or a non-zero wire id.
void check_registry(const std::vector<RegistryEntry>& entries);

// Names accepted by make_algorithm, for --help.
std::vector<std::string> algorithm_names();

// The algorithm `name` with `options` (null: every default), its name and
// wire id from its entry. Validates the options first. Throws flb::Error
// listing the known names when `name` is unknown.
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const Options* options, uint64_t seed);
// The same from a run's config: config.algorithm, config.algorithm_options, config.seed.
std::unique_ptr<Algorithm> make_algorithm(const RunConfig& config);

// Throws flb::Error when config.algorithm is unknown, an algorithm option
// is inconsistent, or a server option needs what the algorithm cannot do
// (the algorithm counterpart of flb::validate).
void validate(const RunConfig& config);

// Throws flb::Error naming the option when `algorithm` cannot run under
// config's server options: --aggregation hierarchical and
// --clip-update-norm need aggregates_by_weighted_mean() (additive updates).
void check_server_options(const Algorithm& algorithm, const RunConfig& config);

}  // namespace flb::algo
