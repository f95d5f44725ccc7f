// flbench's command line and TOML config (CLI11), mapped onto RunConfig.
#pragma once

#include <CLI/CLI.hpp>

#include "flb/core/config.h"

namespace flbench {

// Registers every option of `config` on `app`, with help, defaults and
// range checks; `--config FILE.toml` reads the same options from a file.
void add_run_options(CLI::App& app, flb::RunConfig& config);

// The text-corpus and language-model options (also used by `pretrain`).
void add_text_options(CLI::App& app, flb::RunConfig& config);

// A number >= 0 (> 0): CLI11's NonNegativeNumber and PositiveNumber would
// name their range as "0.000000 to" DBL_MAX's 309 digits.
extern const CLI::Validator kNonNegativeNumber, kPositiveNumber;

}  // namespace flbench
