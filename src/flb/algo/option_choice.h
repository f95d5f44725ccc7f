// CLI11 helpers for the algorithm files' option groups (options.h). Only
// algo/*.cc include this (it brings in CLI11).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <utility>
#include <vector>

namespace flb::algo {

// Adds `flag` taking one of the words of `choices`, stored as the word's
// enum value in `target` when parsed (so the algorithm never compares
// strings). The default shown and written into config_toml is the word of
// `target`'s value at registration.
template <class E>
CLI::Option* add_choice(CLI::App& app, const std::string& flag, E& target,
                        const std::vector<std::pair<std::string, E>>& choices, const std::string& help) {
  std::vector<std::string> words;
  std::string default_word;
  for (const auto& [word, value] : choices) {
    words.push_back(word);
    if (value == target) default_word = word;
  }
  auto set = [&target, choices](const std::string& word) {
    for (const auto& [w, value] : choices)
      if (w == word) target = value;
  };
  return app.add_option_function<std::string>(flag, set, help)->check(CLI::IsMember(words))->default_str(default_word);
}

// A flag's default as CLI11 writes it into config_toml: without it, an
// unset flag is written "false", so a flag that defaults to true (and the
// run it describes) would not be reproduced by the written config.
inline std::string on_off(bool v) { return v ? "true" : "false"; }

}  // namespace flb::algo
