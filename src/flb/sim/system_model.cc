#include "flb/sim/system_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "flb/core/error.h"
#include "flb/core/rng.h"
#include "flb/sim/trace_fields.h"

namespace flb::sim {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

int64_t client_id(const std::string& text, int64_t clients, const std::string& where) {
  const double v = finite_number(text, where + ": client id");
  require(v == std::floor(v) && v >= 0 && v < static_cast<double>(clients),
          where + ": client id " + trim(text) + " is not in [0, " + std::to_string(clients) +
              ") (this run's --clients); was the trace made for another run?");
  return static_cast<int64_t>(v);
}

void check(const ClientSystem& s, const std::string& where) {
  require(s.compute > 0, where + ": compute must be > 0");
  require(s.up_mbps > 0 && s.down_mbps > 0, where + ": up and down must be > 0 Mbit/s");
  require(s.latency_s >= 0, where + ": latency must be >= 0 seconds");
}

// KEY=V,... into `values`; every key must be one of `values`' own.
void parse_keys(const std::string& list, std::map<std::string, double>& values, const std::string& spec) {
  if (list.empty()) return;
  for (const std::string& item : split(list, ',')) {
    const size_t eq = item.find('=');
    const std::string key = trim(item.substr(0, eq));
    std::string known;
    for (const auto& [k, v] : values) known += (known.empty() ? "" : ", ") + k;
    require(eq != std::string::npos && values.count(key),
            "--system " + spec + ": '" + item + "' is not KEY=VALUE with KEY one of " + known);
    values[key] = finite_number(item.substr(eq + 1), "--system " + spec + ": " + key);
  }
}

enum Quantity : uint64_t { kCompute = 0, kUp = 1, kDown = 2, kLatency = 3 };

SystemModel lognormal(const std::map<std::string, double>& v, int64_t clients, uint64_t seed, const std::string& spec) {
  require(v.at("sigma") >= 0 && v.at("compute_sigma") >= 0, "--system " + spec + ": sigma and compute_sigma must be >= 0");
  const auto draw = [&](int64_t c, Quantity q, double median, double sigma) {
    Stream z(seed, StreamPurpose::kSystem, static_cast<uint64_t>(c), q);
    return median * std::exp(sigma * z.normal());
  };
  std::vector<ClientSystem> systems(static_cast<size_t>(clients));
  for (int64_t c = 0; c < clients; ++c) {
    ClientSystem& s = systems[static_cast<size_t>(c)];
    s.compute = draw(c, kCompute, v.at("compute"), v.at("compute_sigma"));
    s.up_mbps = draw(c, kUp, v.at("up"), v.at("sigma"));
    s.down_mbps = draw(c, kDown, v.at("down"), v.at("sigma"));
    s.latency_s = draw(c, kLatency, v.at("latency"), v.at("sigma"));
  }
  return SystemModel::from(std::move(systems));
}

// One row's client ids: `*` (is_rest), an id or an inclusive range A-B.
struct RowClients {
  bool is_rest = false;
  int64_t first = 0, last = -1;
};

RowClients row_clients(const std::string& field, int64_t clients, const std::string& where) {
  const std::string ids = trim(field);
  if (ids == "*") return {true, 0, -1};
  const size_t dash = ids.find('-');
  const int64_t a = client_id(ids.substr(0, dash), clients, where);
  const int64_t b = dash == std::string::npos ? a : client_id(ids.substr(dash + 1), clients, where);
  require(a <= b, where + ": the range " + ids + " is empty");
  return {false, a, b};
}

SystemModel trace(const std::string& path, int64_t clients) {
  std::ifstream in(path);
  require(static_cast<bool>(in), "--system trace:" + path + ": cannot open the file");
  const std::string header = "class,clients,compute,up_mbps,down_mbps,latency_s";
  std::vector<ClientSystem> systems(static_cast<size_t>(clients));
  // Per client: 1 + its row's schedule (0: in no row yet). Schedule 0 is `always`.
  std::vector<uint32_t> row_of(static_cast<size_t>(clients), 0);
  std::vector<Availability> schedules{Availability()};
  size_t fields = 0;  // 6, or 7 with the `available` column; 0 before the header
  bool have_rest = false, any_window = false;
  ClientSystem rest;
  uint32_t rest_schedule = 0;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    const std::string where = path + ":" + std::to_string(n);
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (fields == 0) {
      require(t == header || t == header + ",available",
              where + ": the first line must be the header " + header + " (optionally ,available)");
      fields = t == header ? 6 : 7;
      continue;
    }
    const std::vector<std::string> f = split(t, ',');
    require(f.size() == fields, where + ": " + std::to_string(f.size()) + " fields; need " + std::to_string(fields) + " (" +
                                    header + (fields == 7 ? ",available)" : ")"));
    const ClientSystem s{finite_number(f[2], where + ": compute"), finite_number(f[3], where + ": up_mbps"),
                         finite_number(f[4], where + ": down_mbps"), finite_number(f[5], where + ": latency_s")};
    check(s, where);
    uint32_t schedule = 0;
    if (fields == 7) {
      Availability a = Availability::parse(f[6], where);
      if (!a.always()) {
        schedule = static_cast<uint32_t>(schedules.size());
        schedules.push_back(std::move(a));
        any_window = true;
      }
    }
    const RowClients ids = row_clients(f[1], clients, where);
    if (ids.is_rest) {
      require(!have_rest, where + ": a second '*' row");
      have_rest = true;
      rest = s;
      rest_schedule = schedule;
      continue;
    }
    for (int64_t c = ids.first; c <= ids.last; ++c) {
      require(!row_of[static_cast<size_t>(c)], where + ": client " + std::to_string(c) + " is in an earlier row too");
      row_of[static_cast<size_t>(c)] = 1 + schedule;
      systems[static_cast<size_t>(c)] = s;
    }
  }
  require(fields != 0, "--system trace:" + path + ": no header line (" + header + ")");
  for (int64_t c = 0; c < clients; ++c) {
    uint32_t& r = row_of[static_cast<size_t>(c)];
    if (r) {
      --r;
      continue;
    }
    require(have_rest, "--system trace:" + path + ": client " + std::to_string(c) +
                           " is in no row; add it or a '*' row for every client not listed");
    systems[static_cast<size_t>(c)] = rest;
    r = rest_schedule;
  }
  SystemModel model = SystemModel::from(std::move(systems));
  if (any_window) model.set_availability(std::move(schedules), std::move(row_of));
  return model;
}

}  // namespace

SystemModel::SystemModel(int64_t clients, ClientSystem base) : clients_(static_cast<size_t>(clients), base) {}

SystemModel SystemModel::from(std::vector<ClientSystem> systems) {
  SystemModel m;
  m.clients_ = std::move(systems);
  return m;
}

void SystemModel::set_availability(std::vector<Availability> schedules, std::vector<uint32_t> schedule_of) {
  require(schedule_of.size() == clients_.size(), "SystemModel: one schedule per client");
  for (uint32_t s : schedule_of) require(s < schedules.size(), "SystemModel: a client's schedule is out of range");
  // Keep only the schedules some client has (a trace's `always` or `*` row
  // may cover no one), so next_online need not look at the clients.
  schedules_.clear();
  std::vector<uint32_t> kept(schedules.size(), UINT32_MAX);
  for (uint32_t& s : schedule_of) {
    if (kept[s] == UINT32_MAX) {
      kept[s] = static_cast<uint32_t>(schedules_.size());
      schedules_.push_back(schedules[s]);
    }
    s = kept[s];
  }
  schedule_of_ = std::move(schedule_of);
}

const Availability& SystemModel::availability(int64_t c) const {
  static const Availability always;
  return has_windows() ? schedules_.at(schedule_of_.at(static_cast<size_t>(c))) : always;
}

std::vector<int64_t> SystemModel::online_at(double t) const {
  std::vector<char> schedule_online(schedules_.size());
  for (size_t s = 0; s < schedules_.size(); ++s) schedule_online[s] = schedules_[s].online(t);
  std::vector<int64_t> online;
  for (int64_t c = 0; c < size(); ++c)
    if (!has_windows() || schedule_online[schedule_of_[static_cast<size_t>(c)]]) online.push_back(c);
  return online;
}

double SystemModel::next_online(double t) const {
  if (!has_windows()) return size() > 0 ? t : std::numeric_limits<double>::infinity();
  double next = std::numeric_limits<double>::infinity();
  for (const Availability& a : schedules_) next = std::min(next, a.next_online(t));
  return next;
}

SystemModel SystemModel::parse(const std::string& spec, int64_t clients, uint64_t seed) {
  const size_t colon = spec.find(':');
  const std::string kind = spec.substr(0, colon), rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "trace") {
    require(!rest.empty(), "--system trace:FILE: name the trace file");
    return trace(rest, clients);
  }
  std::map<std::string, double> v{{"up", 10}, {"down", 50}, {"latency", 0.05}, {"compute", 1}};
  if (kind == "lognormal") {
    v["sigma"] = 1;
    v["compute_sigma"] = 0.5;
    parse_keys(rest, v, spec);
    check({v["compute"], v["up"], v["down"], v["latency"]}, "--system " + spec);
    return lognormal(v, clients, seed, spec);
  }
  require(kind == "uniform", "--system: '" + spec + "' is not uniform[:KEY=V,...], lognormal[:KEY=V,...] or trace:FILE");
  parse_keys(rest, v, spec);
  const ClientSystem s{v["compute"], v["up"], v["down"], v["latency"]};
  check(s, "--system " + spec);
  return SystemModel(clients, s);
}

}  // namespace flb::sim
