#include "flb/sim/system_model.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "flb/core/error.h"
#include "flb/core/rng.h"

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

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// A finite number, all of `text`; `what` names it in the error.
double number(const std::string& text, const std::string& what) {
  const std::string t = trim(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  require(!t.empty() && end == t.c_str() + t.size() && errno == 0 && std::isfinite(v),
          what + ": '" + text + "' is not a number");
  return v;
}

int64_t client_id(const std::string& text, int64_t clients, const std::string& where) {
  const double v = number(text, where + ": client id");
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
    values[key] = number(item.substr(eq + 1), "--system " + spec + ": " + key);
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

SystemModel trace(const std::string& path, int64_t clients) {
  std::ifstream in(path);
  require(static_cast<bool>(in), "--system trace:" + path + ": cannot open the file");
  const std::string header = "class,clients,compute,up_mbps,down_mbps,latency_s";
  std::vector<ClientSystem> systems(static_cast<size_t>(clients));
  std::vector<int> covered(static_cast<size_t>(clients), 0);
  bool have_header = false, have_rest = false;
  ClientSystem rest;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    const std::string where = path + ":" + std::to_string(n);
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (!have_header) {
      require(t == header, where + ": the first line must be the header " + header);
      have_header = true;
      continue;
    }
    const std::vector<std::string> f = split(t, ',');
    require(f.size() == 6, where + ": " + std::to_string(f.size()) + " fields; need 6 (" + header + ")");
    const ClientSystem s{number(f[2], where + ": compute"), number(f[3], where + ": up_mbps"),
                         number(f[4], where + ": down_mbps"), number(f[5], where + ": latency_s")};
    check(s, where);
    const std::string ids = trim(f[1]);
    if (ids == "*") {
      require(!have_rest, where + ": a second '*' row");
      have_rest = true;
      rest = s;
      continue;
    }
    const size_t dash = ids.find('-');
    const int64_t a = client_id(ids.substr(0, dash), clients, where);
    const int64_t b = dash == std::string::npos ? a : client_id(ids.substr(dash + 1), clients, where);
    require(a <= b, where + ": the range " + ids + " is empty");
    for (int64_t c = a; c <= b; ++c) {
      require(!covered[static_cast<size_t>(c)], where + ": client " + std::to_string(c) + " is in an earlier row too");
      covered[static_cast<size_t>(c)] = 1;
      systems[static_cast<size_t>(c)] = s;
    }
  }
  require(have_header, "--system trace:" + path + ": no header line (" + header + ")");
  for (int64_t c = 0; c < clients; ++c) {
    if (covered[static_cast<size_t>(c)]) continue;
    require(have_rest, "--system trace:" + path + ": client " + std::to_string(c) +
                           " is in no row; add it or a '*' row for every client not listed");
    systems[static_cast<size_t>(c)] = rest;
  }
  return SystemModel::from(std::move(systems));
}

}  // namespace

SystemModel::SystemModel(int64_t clients, ClientSystem base) : clients_(static_cast<size_t>(clients), base) {}

SystemModel SystemModel::from(std::vector<ClientSystem> systems) {
  SystemModel m;
  m.clients_ = std::move(systems);
  return m;
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
