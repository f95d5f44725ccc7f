// When a client is online, in virtual seconds (sim/virtual_clock.h): the
// availability windows of a trace row (sim/system_model.h).
//
//   always                    online at every moment (the default)
//   A-B[;A-B...]              online in each window [A, B), once
//   A-B[;A-B...]@P            the same windows every P seconds: online at t
//                             when t mod P falls in one of them
//
// Windows are in seconds, 0 <= A < B, ascending and disjoint; with @P
// every B <= P. `0-28800;72000-86400@86400` is online from 20:00 to 08:00
// every day, counting the run's virtual start as midnight.
//
// A round samples only clients online at its start; a sampled client that
// goes offline before its upload has arrived is lost (sim/arrivals.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace flb::sim {

class Availability {
 public:
  Availability() = default;  // always online

  // Parses the text above; throws flb::Error naming `where` and the fault.
  static Availability parse(const std::string& text, const std::string& where);

  bool always() const { return windows_.empty(); }
  bool online(double t) const;
  // REQUIRES: online(t). The first moment after t the client is offline
  // (+infinity when it never goes offline again).
  double online_until(double t) const;
  // The first moment >= t the client is online (t itself when online(t);
  // +infinity when it never is again).
  double next_online(double t) const;

  std::string describe() const;  // the text parse() reads back into this

 private:
  struct Window {
    double start, end;
  };
  double phase(double t) const;  // t within its period (t itself when not periodic)

  std::vector<Window> windows_;  // ascending, disjoint; empty: always
  double period_s_ = 0;          // 0: the windows happen once
};

}  // namespace flb::sim
