// The one line rank 0 prints per round.
#pragma once

#include <cstdint>
#include <string>

namespace flb::metrics {

struct Progress {
  int64_t round = 0;        // 0-based
  int64_t rounds = 0;
  double train_loss = 0;
  double test_loss = 0;     // NaN when not evaluated this round
  double test_accuracy = 0; // NaN when not evaluated this round
  double mb_up = 0;
  double mb_down = 0;
  double seconds = 0;       // this round
  double elapsed = 0;       // since round first_round began
  int64_t first_round = 0;  // the first round this process ran (> 0 after --resume)
};

// "round  12/30  loss 0.4123  test 0.4567 / 84.12%  up 7.95 MB  down 0.80 MB  1.23 s  ETA 0:00:22"
std::string progress_line(const Progress& p);

}  // namespace flb::metrics
