// Top-k sparsification's options, shared with LBGM's top-k base
// (lbgm.cc): topk.cc owns them.
#pragma once

#include "flb/algo/options.h"

namespace flb::algo {

struct TopkOptions : OptionGroup {
  double ratio = 0.01;          // --topk-ratio: fraction of each tensor's entries kept
  bool error_feedback = false;  // --error-feedback: carry what was not sent into the next round
  void add_options(CLI::App& app) override;
  void validate(const Options& all) const override;
};

}  // namespace flb::algo
