#include "report.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>

#include "flb/core/error.h"
#include "flb/metrics/results_file.h"

namespace flcomm {
namespace {

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::vector<flb::metrics::ColumnSpec> columns() {
  using flb::metrics::ColumnType;
  return {{"algorithm", ColumnType::kInt64, "index into the table's 'algorithms' attribute (comma list)"},
          {"rank", ColumnType::kInt64, "LoRA rank r"},
          {"clients", ColumnType::kInt64, "clients in the round, over all ranks"},
          {"phase", ColumnType::kInt64, "index into the table's 'phases' attribute"},
          {"bytes", ColumnType::kFloat64, "bytes the phase handles per round"},
          {"avg_s", ColumnType::kFloat64, "seconds per round, mean over the ranks that run the phase"},
          {"min_s", ColumnType::kFloat64, "seconds per round, fastest rank"},
          {"max_s", ColumnType::kFloat64, "seconds per round, slowest rank"},
          {"bound_s", ColumnType::kFloat64, "seconds of the phase's bound (raw MPI, memcpy, plain LibTorch)"},
          {"flops", ColumnType::kFloat64, "floating-point operations of the bound (aggregate), else 0"},
          {"wrong", ColumnType::kInt64, "#wrong: failed checks; -1 where nothing is checked"}};
}

std::string wrong_text(int64_t w) { return w < 0 ? "-" : std::to_string(w); }

}  // namespace

Report::Report(const Options& o, const Workload& w, flb::comm::MpiTransport& t) : o_(o), t_(t) {
  if (!o.json.empty())
    flb::require(o.overwrite || !exists(o.json), "--json: " + o.json + " exists; pass --overwrite to replace it");
  if (!o.out.empty()) {
    h5_ = std::make_unique<flb::metrics::ResultsFile>(o.out, t.handle(), o.overwrite);
    h5_->set_attribute("workload", w.name);
    h5_->set_attribute("ranks", static_cast<int64_t>(t.size()));
    h5_->set_attribute("clients_per_rank", o.clients_per_rank);
    h5_->set_attribute("algorithm_options", joined(o.algorithm_args, " "));
    table_ = &h5_->add_table("flcomm", columns());
    h5_->set_group_attribute("flcomm", "algorithms", joined(o.algorithms, ","));
    std::vector<std::string> phases;
    for (int p = 0; p < kPhases; ++p) phases.push_back(phase_name(static_cast<Phase>(p)));
    h5_->set_group_attribute("flcomm", "phases", joined(phases, ","));
  }
  if (t.rank() != 0) return;
  std::printf("# flcomm: %s, %lld adapted layers, %d ranks x %lld clients, -n %d -w %d, update scale %g, %s\n",
              w.name.c_str(), static_cast<long long>(w.layers()), t.size(), static_cast<long long>(o.clients_per_rank),
              o.iters, o.warmup, o.update_scale, t.describe().c_str());
  std::printf("# algorithm options: %s\n#\n", o.algorithm_args.empty() ? "(defaults)" : joined(o.algorithm_args, " ").c_str());
  std::printf("# %-10s %5s %7s %-12s %13s %10s %10s %10s %8s %8s %10s %7s %6s\n", "algorithm", "rank", "clients", "phase",
              "bytes", "avg_ms", "min_ms", "max_ms", "GB/s", "GFLOP/s", "bound_ms", "ratio", "#wrong");
  std::fflush(stdout);
}

Report::~Report() = default;

void Report::add(const ConfigResult& r) {
  flb::metrics::Rows rows = table_ ? table_->empty_rows() : flb::metrics::Rows{};
  if (t_.rank() == 0) {
    const auto algo = std::find(o_.algorithms.begin(), o_.algorithms.end(), r.algorithm) - o_.algorithms.begin();
    for (int p = 0; p < kPhases; ++p) {
      const PhaseResult& x = r.phases[p];
      char gflops[32] = "-";
      if (x.flops > 0) std::snprintf(gflops, sizeof gflops, "%.1f", x.flops / x.avg_s / 1e9);
      std::printf("  %-10s %5lld %7lld %-12s %13.0f %10.3f %10.3f %10.3f %8.2f %8s %10.3f %7.2f %6s\n", r.algorithm.c_str(),
                  static_cast<long long>(r.rank), static_cast<long long>(r.clients), phase_name(static_cast<Phase>(p)),
                  x.bytes, 1e3 * x.avg_s, 1e3 * x.min_s, 1e3 * x.max_s, x.avg_s > 0 ? x.bytes / x.avg_s / 1e9 : 0.0,
                  gflops, 1e3 * x.bound_s, x.bound_s > 0 ? x.avg_s / x.bound_s : 0.0, wrong_text(x.wrong).c_str());
      if (x.wrong > 0) wrong_ += x.wrong;
      if (table_) {
        const double v[] = {static_cast<double>(algo), static_cast<double>(r.rank), static_cast<double>(r.clients),
                            static_cast<double>(p), x.bytes, x.avg_s, x.min_s, x.max_s, x.bound_s, x.flops,
                            static_cast<double>(x.wrong)};
        for (size_t c = 0; c < rows.size(); ++c) rows[c].push_back(v[c]);
      }
    }
    std::fflush(stdout);
    rows_.push_back(r);
  }
  if (table_) {
    table_->append(rows);
    h5_->flush();
  }
}

int64_t Report::finish() {
  h5_.reset();
  if (t_.rank() != 0) return 0;
  if (!o_.json.empty()) {
    nlohmann::json j;
    j["ranks"] = t_.size();
    j["clients_per_rank"] = o_.clients_per_rank;
    j["iters"] = o_.iters;
    j["warmup"] = o_.warmup;
    j["algorithm_options"] = o_.algorithm_args;
    j["rows"] = nlohmann::json::array();
    for (const ConfigResult& r : rows_)
      for (int p = 0; p < kPhases; ++p) {
        const PhaseResult& x = r.phases[p];
        j["rows"].push_back({{"algorithm", r.algorithm}, {"rank", r.rank}, {"clients", r.clients},
                             {"phase", phase_name(static_cast<Phase>(p))}, {"bytes", x.bytes}, {"avg_s", x.avg_s},
                             {"min_s", x.min_s}, {"max_s", x.max_s}, {"bound_s", x.bound_s}, {"flops", x.flops},
                             {"wrong", x.wrong < 0 ? nlohmann::json(nullptr) : nlohmann::json(x.wrong)}});
      }
    std::ofstream out(o_.json);
    out << j.dump(1) << "\n";
    flb::require(static_cast<bool>(out), "--json: cannot write " + o_.json);
  }
  std::printf("# #wrong total: %lld %s\n", static_cast<long long>(wrong_), wrong_ ? "FAILED" : "OK");
  return wrong_;
}

}  // namespace flcomm
