#include "flb/sim/virtual_clock.h"

#include <algorithm>
#include <string>

#include "flb/core/error.h"

namespace flb::sim {

VirtualClock::VirtualClock(SystemModel systems, double step_seconds, int64_t dense_state_bytes, bool measured_compute)
    : systems_(std::move(systems)),
      step_seconds_(step_seconds),
      measured_compute_(measured_compute),
      dense_state_bytes_(dense_state_bytes),
      prefix_{0},
      last_round_(static_cast<size_t>(systems_.size()), 0) {
  require(step_seconds >= 0, "--step-seconds: must be >= 0");
}

void VirtualClock::require_next(int64_t round) const {
  require(round == static_cast<int64_t>(prefix_.size()) - 1,
          "virtual clock: round " + std::to_string(round) + " is not the next round to finish");
}

ClientTimes VirtualClock::client(int64_t round, int64_t client, int64_t steps, int64_t upload_bytes, double train_s) const {
  require_next(round);
  const ClientSystem& s = systems_.client(client);
  const int64_t L = last_round_.at(static_cast<size_t>(client));
  ClientTimes t;
  t.download_bytes = std::min(prefix_[static_cast<size_t>(round)] - prefix_[static_cast<size_t>(L)], dense_state_bytes_);
  const int64_t last_broadcast =
      round > 0 ? prefix_[static_cast<size_t>(round)] - prefix_[static_cast<size_t>(round - 1)] : 0;
  t.catch_up_bytes = std::max<int64_t>(0, t.download_bytes - last_broadcast);
  t.down_s = s.latency_s + 8.0 * static_cast<double>(t.download_bytes) / (1e6 * s.down_mbps);
  t.compute_s = measured_compute_ ? train_s / s.compute : static_cast<double>(steps) * step_seconds_ / s.compute;
  t.up_s = s.latency_s + 8.0 * static_cast<double>(upload_bytes) / (1e6 * s.up_mbps);
  t.done_s = t.down_s + t.compute_s + t.up_s;
  return t;
}

double VirtualClock::finish_round(int64_t round, int64_t bytes_down, const std::vector<int64_t>& sampled,
                                  double duration_s) {
  require_next(round);
  prefix_.push_back(prefix_.back() + bytes_down);
  for (int64_t c : sampled) last_round_.at(static_cast<size_t>(c)) = round;
  elapsed_s_ += duration_s;
  return duration_s;
}

VirtualClock::State VirtualClock::state() const {
  State s;
  for (size_t j = 1; j < prefix_.size(); ++j) s.bytes_down.push_back(prefix_[j] - prefix_[j - 1]);
  s.last_round = last_round_;
  s.elapsed_s = elapsed_s_;
  return s;
}

void VirtualClock::restore(const State& s) {
  require(s.last_round.size() == last_round_.size(),
          "virtual clock: the checkpoint holds " + std::to_string(s.last_round.size()) + " clients, this run " +
              std::to_string(last_round_.size()));
  for (int64_t L : s.last_round)
    require(L >= 0 && L <= static_cast<int64_t>(s.bytes_down.size()), "virtual clock: a client's last round is out of range");
  prefix_.assign(1, 0);
  for (int64_t b : s.bytes_down) prefix_.push_back(prefix_.back() + b);
  last_round_ = s.last_round;
  elapsed_s_ = s.elapsed_s;
}

}  // namespace flb::sim
