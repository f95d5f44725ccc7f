#include "flb/algo/registry.h"

#include <functional>

#include "flb/algo/factories.h"
#include "flb/algo/fedavg.h"
#include "flb/core/error.h"

namespace flb::algo {
namespace {

struct Entry {
  const char* name;
  std::function<std::unique_ptr<Algorithm>(const AlgoConfig&, uint64_t seed)> make;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> kEntries = {
      {"fedavg", [](const AlgoConfig&, uint64_t) { return std::make_unique<FedAvg>(); }},
      {"topk", make_topk},
      {"lbgm", make_lbgm},
      {"fedloru", make_fedloru},
      {"pfedloru", make_pfedloru},
      {"mfedloru", make_mfedloru},
      {"fedit", make_fedit},
      {"fedprox", make_fedprox},
      {"ffa-lora", make_ffa_lora},
      {"flexlora", make_flexlora},
      {"fed-dare", make_fed_dare},
      {"fedsrd", make_fedsrd},
      {"fedsrd-e", make_fedsrd_e},
  };
  return kEntries;
}

}  // namespace

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const Entry& e : entries()) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Algorithm> make_algorithm(const AlgoConfig& config, uint64_t seed) {
  for (const Entry& e : entries())
    if (config.name == e.name) return e.make(config, seed);
  std::string known;
  for (const std::string& n : algorithm_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("--algorithm: unknown algorithm '" + config.name + "' (choose one of: " + known + ")");
}

}  // namespace flb::algo
