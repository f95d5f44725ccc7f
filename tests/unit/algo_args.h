// Tests build algorithms as a run does: a name and its options as on
// flbench's command line, parsed by the algorithms' own option groups.
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "flb/algo/registry.h"

namespace flb::algo {

struct AlgoArgs {
  std::string name;
  std::vector<std::string> args;  // e.g. {"--lora-rank=3"}

  // Appends "flag=value" (bools as true/false, numbers read back exactly).
  template <class T>
  AlgoArgs& set(const std::string& flag, const T& value) {
    std::ostringstream s;
    s.precision(17);
    s << std::boolalpha << value;
    args.push_back(flag + "=" + s.str());
    return *this;
  }
};

inline std::unique_ptr<Algorithm> make_algorithm(const AlgoArgs& a, uint64_t seed) {
  return make_algorithm(a.name, parse_options(a.args).get(), seed);
}

}  // namespace flb::algo
