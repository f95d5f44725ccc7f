#include "flb/metrics/progress.h"

#include <cmath>
#include <cstdio>

namespace flb::metrics {

std::string progress_line(const Progress& p) {
  const int width = static_cast<int>(std::to_string(p.rounds).size());
  const double per_round = p.elapsed / static_cast<double>(p.round + 1 - p.first_round);
  const long eta = std::lround(per_round * static_cast<double>(p.rounds - p.round - 1));
  char test[64];
  if (std::isnan(p.test_accuracy)) {
    std::snprintf(test, sizeof test, "%-22s", "test -");
  } else {
    std::snprintf(test, sizeof test, "test %.4f / %6.2f%%", p.test_loss, 100.0 * p.test_accuracy);
  }
  char line[256];
  std::snprintf(line, sizeof line, "round %*lld/%lld  loss %.4f  %s  up %8.2f MB  down %7.2f MB  %6.2f s  ETA %ld:%02ld:%02ld",
                width, static_cast<long long>(p.round + 1), static_cast<long long>(p.rounds), p.train_loss, test, p.mb_up,
                p.mb_down, p.seconds, eta / 3600, eta / 60 % 60, eta % 60);
  return line;
}

}  // namespace flb::metrics
