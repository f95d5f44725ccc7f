// flbench --config FILE.toml, read strictly: toml++ parses the file (with
// line numbers), every key is checked against the app's options (written
// with '-' or '_'), its value against the option's kind, then CLI11 takes
// the values as usual, so that a flag on the command line still overrides
// the file and the written config_toml reads back into the same run.
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace flbench {

// A bad config file or a renamed option. what() is one line,
// "FILE:LINE: KEY: what is wrong" for a config file.
class ConfigFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options renamed since earlier flbench versions: {old, new}, without "--".
const std::vector<std::pair<std::string, std::string>>& renamed_options();

// Throws ConfigFileError("--rank was renamed --lora-rank") when the command
// line uses a renamed option.
void reject_renamed_options(int argc, const char* const* argv);

// Makes `app`'s --config (already set with set_config) strict: a TOML
// syntax error, an unknown key (with the closest valid one), a key given
// twice (also as a-b and a_b), a value of the wrong type, a table, or a
// renamed key makes app.parse throw ConfigFileError. REQUIRES: `app`
// outlives its parse.
void use_strict_config(CLI::App& app);

// The effective config as TOML that `flbench --config` reads back into the
// same run: every option of the run (not --version, not the pretrain,
// tokenize and eval subcommands'), with empty lists dropped (CLI11 writes
// them as "", which it cannot read back; their defaults are empty) and an
// empty --ood-domains written as "none", and every list (given or left at
// its default) as a TOML array. --resume is left out, so that the
// config reproduces the run from its start.
std::string effective_config(const CLI::App& app);

// The closest of `candidates` to `word` (edit distance), or "" when none is
// close enough to be a likely typo.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace flbench
