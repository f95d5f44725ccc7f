#include "flb/sim/arrivals.h"

#include <algorithm>
#include <cmath>

#include "flb/core/error.h"
#include "flb/core/rng.h"

namespace flb::sim {

int64_t sampled_count(int64_t per_round, double over_select, int64_t clients) {
  const double wanted = std::round(static_cast<double>(per_round) * (1.0 + over_select));
  return std::min<int64_t>(clients, static_cast<int64_t>(wanted));
}

bool drops_out(uint64_t seed, int64_t client, int64_t round, double probability) {
  if (probability <= 0) return false;
  Stream stream(seed, StreamPurpose::kDropout, static_cast<uint64_t>(client), static_cast<uint64_t>(round));
  return stream.uniform() < probability;
}

int64_t Arrivals::count(ClientStatus s) const { return std::count(status.begin(), status.end(), s); }

Arrivals decide_arrivals(const std::vector<int64_t>& clients, const std::vector<double>& done_s,
                         const std::vector<bool>& dropped, const ArrivalRule& rule,
                         const std::vector<double>& leaves_s) {
  require(clients.size() == done_s.size() && clients.size() == dropped.size(),
          "decide_arrivals: one done_s and one dropped flag per client");
  require(leaves_s.empty() || leaves_s.size() == clients.size(), "decide_arrivals: one leaves_s per client, or none");
  const auto leaves_first = [&](size_t i) {  // offline before its upload arrived, by the deadline
    return !leaves_s.empty() && leaves_s[i] < done_s[i] && leaves_s[i] <= rule.deadline_s;
  };
  Arrivals a;
  a.status.assign(clients.size(), ClientStatus::kDropped);
  // The uploads in the order they reach the server.
  std::vector<size_t> order;
  for (size_t i = 0; i < clients.size(); ++i)
    if (!dropped[i]) order.push_back(i);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return done_s[x] != done_s[y] ? done_s[x] < done_s[y] : clients[x] < clients[y];
  });
  int64_t arrived = 0;
  bool any_late = false;
  double last_arrival = 0, last_departure = 0;
  for (size_t i : order) {
    if (leaves_first(i)) {
      a.status[i] = ClientStatus::kOffline;
      last_departure = std::max(last_departure, leaves_s[i]);
    } else if (done_s[i] > rule.deadline_s) {
      a.status[i] = ClientStatus::kLate;
      any_late = true;
    } else if (arrived == rule.wanted) {
      a.status[i] = ClientStatus::kSurplus;
    } else {
      a.status[i] = ClientStatus::kArrived;
      last_arrival = done_s[i];
      ++arrived;
    }
  }
  a.duration_s = arrived == rule.wanted ? last_arrival
                 : any_late              ? rule.deadline_s
                                         : std::max(last_arrival, last_departure);
  return a;
}

}  // namespace flb::sim
