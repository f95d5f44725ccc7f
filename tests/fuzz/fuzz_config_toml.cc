// Fuzz target: `flbench --config FILE.toml` on a file of the input's bytes:
// toml++ parsing, the strict key and type checks (apps/flbench/
// config_file.h), CLI11's own checks on the values, then flb::validate and algo::validate.
//
// Properties beyond "no crash": a bad file ends in a ConfigFileError or a
// CLI11 parse error (flbench prints both as one line and exits 2), a bad
// combination of values in flb::Error; and a config that is accepted
// writes an effective config (what the results file stores) that reads
// back into the same effective config.
#include <CLI/CLI.hpp>

#include <string>

#include "config_file.h"
#include "flb/algo/registry.h"
#include "flb/core/config.h"
#include "flb/core/error.h"
#include "fuzz_check.h"
#include "options.h"

namespace {

// Parses `path` as flbench's --config into `config`; returns the app's
// effective config.
std::string parse(const std::string& path, flb::RunConfig& config) {
  CLI::App app{"flbench"};
  flbench::add_run_options(app, config);
  flbench::use_strict_config(app);
  const char* argv[] = {"flbench", "--config", path.c_str()};
  app.parse(3, argv);
  return flbench::effective_config(app);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static flb::fuzz::InputFile input(".toml"), written("-effective.toml");
  std::string effective;
  try {
    flb::RunConfig config;
    effective = parse(input.write(data, size), config);
    flb::validate(config);
    flb::algo::validate(config);
  } catch (const flbench::ConfigFileError&) {
    return 0;
  } catch (const CLI::ParseError&) {
    return 0;
  } catch (const flb::Error&) {
    return 0;
  }
  flb::RunConfig again;
  const std::string& path = written.write(reinterpret_cast<const uint8_t*>(effective.data()), effective.size());
  flb::fuzz::check(parse(path, again) == effective, "the effective config does not read back into itself");
  return 0;
}
