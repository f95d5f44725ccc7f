// The clients' systems for virtual time (--system): each client's compute
// speed and link, fixed for the run, the same on every rank.
//
//   uniform[:KEY=V,...]     every client alike
//   lognormal[:KEY=V,...]   each value is its KEY times exp(sigma z), z a
//                           standard normal drawn per client and quantity
//                           from Stream(seed, kSystem, client, quantity)
//   trace:FILE              a CSV file, one row per device class (below)
//
// Keys (defaults): up=10 and down=50 (Mbit/s), latency=0.05 (seconds, per
// transfer), compute=1 (the compute factor: a client's local step takes
// --step-seconds / compute), and for lognormal sigma=1 (the links' log
// standard deviation) and compute_sigma=0.5.
//
// Trace format (configs/systems/example-trace.csv is one):
//
//   class,clients,compute,up_mbps,down_mbps,latency_s[,available]
//   phone-4g,0-59,0.25,5,20,0.08,0-28800;72000-86400@86400
//   laptop-wifi,60-89,1,20,100,0.02,always
//   workstation,*,4,100,1000,0.005,always
//
// `available` (optional: a header without it makes every client always
// online) is when the row's clients are online, in virtual seconds
// (sim/availability.h); a row per client gives each its own windows.
//
// `clients` is one client id, an inclusive range A-B, or `*` (every client
// no other row names; at most one such row). Every client of the run must
// be covered exactly once; ids beyond the run's clients are an error, so a
// trace made for another run is not silently misread. Lines starting with
// '#' and blank lines are skipped. Errors throw flb::Error naming the
// spec or FILE:LINE and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "flb/sim/availability.h"

namespace flb::sim {

struct ClientSystem {
  double compute = 1;       // compute factor (> 0)
  double up_mbps = 10;      // uplink, Mbit/s (> 0)
  double down_mbps = 50;    // downlink, Mbit/s (> 0)
  double latency_s = 0.05;  // added to each transfer (>= 0)
};

class SystemModel {
 public:
  // Every client `base` (the default: uniform).
  SystemModel(int64_t clients = 0, ClientSystem base = {});

  static SystemModel parse(const std::string& spec, int64_t clients, uint64_t seed);
  static SystemModel from(std::vector<ClientSystem> systems);  // client c gets systems[c]

  const ClientSystem& client(int64_t c) const { return clients_.at(static_cast<size_t>(c)); }
  int64_t size() const { return static_cast<int64_t>(clients_.size()); }

  // Availability: every client is always online unless a trace's
  // `available` column says otherwise.
  bool has_windows() const { return !schedule_of_.empty(); }
  const Availability& availability(int64_t c) const;
  std::vector<int64_t> online_at(double t) const;  // the clients online at virtual time t, ascending
  double next_online(double t) const;              // the first moment >= t some client is online (+inf: never)
  // Client c gets schedules[schedule_of[c]] (the trace's rows).
  void set_availability(std::vector<Availability> schedules, std::vector<uint32_t> schedule_of);

 private:
  std::vector<ClientSystem> clients_;
  std::vector<Availability> schedules_;  // the trace rows' windows that some client has
  std::vector<uint32_t> schedule_of_;    // per client; empty when every client is always online
};

}  // namespace flb::sim
