#include "flb/algo/registry.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <map>

#include "flb/algo/rank_fold.h"
#include "flb/core/error.h"

namespace flb::algo {

// What each algorithm file exports, at its end: its factory and, when it
// owns options, their group. (Declared through the function types Factory
// and NewOptionGroup.)
Factory make_fedavg, make_topk, make_lbgm, make_fedloru, make_pfedloru, make_mfedloru, make_fedit, make_fedprox,
    make_ffa_lora, make_flexlora, make_fed_dare, make_fedsrd, make_fedsrd_e;
NewOptionGroup topk_options, lbgm_options, lora_options, fedloru_options, mfedloru_options, fedprox_options,
    fed_dare_options, fedsrd_options;

namespace {

std::vector<RegistryEntry> entries() {
  // Wire ids are in every payload header (and checkpoint): never renumber one.
  //  name        wire id  factory        option groups it reads
  return {
      {"fedavg",    1,  make_fedavg,   {}},
      {"topk",      2,  make_topk,     {topk_options}},
      {"lbgm",      3,  make_lbgm,     {topk_options, lbgm_options}},
      {"fedloru",   4,  make_fedloru,  {lora_options, fedloru_options}},
      {"pfedloru",  5,  make_pfedloru, {lora_options, fedloru_options}},
      {"mfedloru",  6,  make_mfedloru, {lora_options, fedloru_options, mfedloru_options}},
      {"fedit",     7,  make_fedit,    {lora_options}},
      {"fedprox",   8,  make_fedprox,  {lora_options, fedprox_options}},
      {"ffa-lora",  9,  make_ffa_lora, {lora_options}},
      {"flexlora",  10, make_flexlora, {lora_options}},
      {"fed-dare",  11, make_fed_dare, {lora_options, fed_dare_options}},
      {"fedsrd",    12, make_fedsrd,   {lora_options, fedsrd_options}},
      {"fedsrd-e",  13, make_fedsrd_e, {lora_options, fedsrd_options}},
  };
}

const RegistryEntry& entry(const std::string& name) {
  for (const RegistryEntry& e : registry())
    if (e.name == name) return e;
  std::string known;
  for (const std::string& n : algorithm_names()) known += (known.empty() ? "" : ", ") + n;
  throw Error("--algorithm: unknown algorithm '" + name + "' (choose one of: " + known + ")");
}

}  // namespace

// Gives a new algorithm its registry identity (Algorithm's friend).
class Registry {
 public:
  static void bind(Algorithm& algorithm, const RegistryEntry& e) {
    algorithm.registered_name_ = e.name;
    algorithm.wire_id_ = e.wire_id;
  }
};

void check_registry(const std::vector<RegistryEntry>& entries) {
  std::map<std::string, size_t> names;
  std::map<uint16_t, size_t> ids;
  for (size_t i = 0; i < entries.size(); ++i) {
    const RegistryEntry& e = entries[i];
    const std::string row = "algorithm registry: row " + std::to_string(i + 1) + " ('" + e.name + "')";
    require(!e.name.empty(), row + ": has no name");
    require(e.make != nullptr, row + ": has no factory");
    require(e.wire_id != 0, row + ": wire id 0 is not an id; give it an unused one");
    const auto [n, new_name] = names.emplace(e.name, i);
    require(new_name, row + ": name already registered by row " + std::to_string(n->second + 1));
    const auto [w, new_id] = ids.emplace(e.wire_id, i);
    require(new_id, row + ": wire id " + std::to_string(e.wire_id) + " already used by row " +
                        std::to_string(w->second + 1) + " ('" + entries[w->second].name + "')");
  }
}

const std::vector<RegistryEntry>& registry() {
  static const std::vector<RegistryEntry> kEntries = [] {
    std::vector<RegistryEntry> e = entries();
    check_registry(e);
    return e;
  }();
  return kEntries;
}

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const RegistryEntry& e : registry()) names.push_back(e.name);
  return names;
}

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const Options* options, uint64_t seed) {
  const RegistryEntry& e = entry(name);
  std::unique_ptr<Options> defaults;
  if (!options) {
    defaults = std::make_unique<Options>();
    options = defaults.get();
  }
  options->validate();
  std::unique_ptr<Algorithm> algorithm = e.make(*options, seed);
  Registry::bind(*algorithm, e);
  return algorithm;
}

std::unique_ptr<Algorithm> make_algorithm(const RunConfig& config) {
  return make_algorithm(config.algorithm, dynamic_cast<const Options*>(config.algorithm_options.get()), config.seed);
}

void validate(const RunConfig& config) {
  entry(config.algorithm);
  if (const auto* options = dynamic_cast<const Options*>(config.algorithm_options.get())) options->validate();
  check_server_options(*make_algorithm(config), config);
}

void check_server_options(const Algorithm& algorithm, const RunConfig& config) {
  const std::string mean_algorithms = "fedavg, topk, fedit, fedprox, ffa-lora and fed-dare";
  require(config.aggregation != "hierarchical" || algorithm.aggregates_by_weighted_mean() ||
              dynamic_cast<const FoldsPerRank*>(&algorithm) != nullptr,
          "--aggregation hierarchical: " + algorithm.name() +
              "'s server step is neither a function of the weighted mean of its uploads nor of their folded "
              "products; hierarchical mode runs " + mean_algorithms +
              ", and fedsrd, fedsrd-e and flexlora (use --aggregation central)");
  require(config.clip_update_norm == 0 || algorithm.aggregates_by_weighted_mean(),
          "--clip-update-norm: " + algorithm.name() +
              "'s uploads are not additive updates of the trained tensors, so their norm bounds nothing; clipping "
              "runs with " + mean_algorithms + " (sim/update_clipping.h)");
}

// ---- Options (options.h) ----------------------------------------------------

Options::Options() {
  std::vector<NewOptionGroup*> made;
  for (const RegistryEntry& e : registry())
    for (NewOptionGroup* group : e.options)
      if (std::find(made.begin(), made.end(), group) == made.end()) {
        made.push_back(group);
        groups_.push_back(group());
      }
}

void Options::add_options(CLI::App& app) {
  for (auto& g : groups_) g->add_options(app);
}

void Options::validate() const {
  for (const auto& g : groups_) g->validate(*this);
}

std::shared_ptr<Options> parse_options(const std::vector<std::string>& args) {
  auto options = std::make_shared<Options>();
  CLI::App app{"algorithm options"};
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  options->add_options(app);
  try {
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 takes them last first
  } catch (const CLI::ParseError& e) {
    throw Error(std::string("algorithm options: ") + e.what());
  }
  return options;
}

}  // namespace flb::algo
