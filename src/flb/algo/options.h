// Algorithm options as plug-ins: every algorithm file owns the options it
// reads, as one OptionGroup (a struct of typed values with their defaults,
// the CLI11 options that fill them, and their checks). A group several
// algorithms read (the LoRA rank and alpha, top-k's ratio) is owned by one
// file and registered once; the registry (registry.cc) lists which groups
// each algorithm reads.
//
// The run carries the parsed values to the algorithm as an Options
// (RunConfig::algorithm_options); core/ sees only its PluginOptions base.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "flb/core/config.h"
#include "flb/core/error.h"

namespace CLI {
class App;
}  // namespace CLI

namespace flb::algo {

class Options;

// The --help heading every algorithm option is listed under.
inline constexpr const char* kOptionsHelpGroup = "Algorithm options";

// One group of options, owned by one algorithm file. Choice options are
// enums, parsed once from the words users write (option_choice.h).
class OptionGroup {
 public:
  virtual ~OptionGroup() = default;
  // Registers the group's options on `app` (help, defaults, range checks),
  // bound to this object's fields. REQUIRES: this object outlives `app`'s
  // parse and does not move.
  virtual void add_options(CLI::App& app) = 0;
  // Checks what single-option checks cannot (relations, also with other
  // groups of `all`). Throws flb::Error("--option: what is wrong").
  virtual void validate(const Options& all) const {}
};

// A function that returns a new group holding its defaults; every group's
// file defines one (e.g. `std::unique_ptr<OptionGroup> lora_options()`).
using NewOptionGroup = std::unique_ptr<OptionGroup>();

// The values of every registered option group. Not copyable: CLI11 binds
// to its fields.
class Options : public PluginOptions {
 public:
  // Every group of every registered algorithm, with its defaults.
  Options();
  Options(const Options&) = delete;
  Options& operator=(const Options&) = delete;

  // Registers every group's options on `app`, each group once.
  void add_options(CLI::App& app);
  // Every group's validate(); throws flb::Error naming the option.
  void validate() const;

  // The group of type G. Throws flb::Error when no registered algorithm reads G.
  template <class G>
  const G& get() const {
    for (const auto& g : groups_)
      if (const auto* p = dynamic_cast<const G*>(g.get())) return *p;
    throw Error("algorithm options: no registered group of this type (add it to its algorithm's registry entry)");
  }
  template <class G>
  G& get() {
    return const_cast<G&>(static_cast<const Options&>(*this).get<G>());
  }

 private:
  std::vector<std::unique_ptr<OptionGroup>> groups_;
};

// The options of `args`, algorithm options as on flbench's command line
// (e.g. {"--lora-rank", "3", "--sparsifier", "random"}), the others at
// their defaults: how tests and tools build an algorithm the way a run
// does. Throws flb::Error with CLI11's message on a bad option or value.
std::shared_ptr<Options> parse_options(const std::vector<std::string>& args);

}  // namespace flb::algo
