#include "flb/sim/availability.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "flb/core/error.h"
#include "flb/sim/trace_fields.h"

namespace flb::sim {
namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

// A finite number >= 0, all of `text`.
double seconds(const std::string& text, const std::string& what) {
  const double v = finite_number(text, what);
  require(v >= 0, what + ": '" + trim(text) + "' is not a number of seconds >= 0");
  return v;
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

Availability Availability::parse(const std::string& text, const std::string& where) {
  const std::string t = trim(text);
  const std::string form = " (want always, A-B[;A-B...] or A-B[;A-B...]@PERIOD, in seconds)";
  Availability a;
  if (t == "always") return a;
  require(!t.empty(), where + ": availability is empty" + form);
  const size_t at = t.find('@');
  if (at != std::string::npos) {
    a.period_s_ = seconds(t.substr(at + 1), where + ": availability period");
    require(a.period_s_ > 0, where + ": availability period must be > 0 seconds");
  }
  std::istringstream windows(t.substr(0, at));
  std::string item;
  while (std::getline(windows, item, ';')) {
    const std::string w = trim(item);
    const size_t dash = w.find('-', 1);
    require(dash != std::string::npos, where + ": availability window '" + w + "' is not A-B" + form);
    const Window win{seconds(w.substr(0, dash), where + ": window start"),
                     seconds(w.substr(dash + 1), where + ": window end")};
    require(win.start < win.end, where + ": availability window '" + w + "' is empty (need A < B)");
    require(a.windows_.empty() || win.start > a.windows_.back().end,
            where + ": availability window '" + w + "' overlaps or touches the one before it (list windows in order; merge touching ones)");
    require(a.period_s_ == 0 || win.end <= a.period_s_,
            where + ": availability window '" + w + "' ends after the period " + number_text(a.period_s_));
    a.windows_.push_back(win);
  }
  require(!a.windows_.empty(), where + ": availability has no window" + form);
  // One window over the whole period is always online.
  if (a.period_s_ > 0 && a.windows_.size() == 1 && a.windows_[0].start == 0 && a.windows_[0].end == a.period_s_)
    a.windows_.clear();
  return a;
}

double Availability::phase(double t) const {
  if (period_s_ == 0) return t;
  const double tau = t - period_s_ * std::floor(t / period_s_);
  return tau < 0 ? tau + period_s_ : tau >= period_s_ ? tau - period_s_ : tau;  // rounding at a period's edge
}

bool Availability::online(double t) const {
  if (always()) return true;
  const double tau = phase(t);
  for (const Window& w : windows_)
    if (w.start <= tau && tau < w.end) return true;
  return false;
}

double Availability::online_until(double t) const {
  require(online(t), "Availability::online_until: the client is offline at " + number_text(t));
  if (always()) return kNever;
  const double tau = phase(t), base = t - tau;
  for (const Window& w : windows_) {
    if (!(w.start <= tau && tau < w.end)) continue;
    // A window that ends with the period runs on into the next period's
    // window from 0 (parse() made a single whole-period window `always`).
    const bool wraps = period_s_ > 0 && w.end == period_s_ && windows_.front().start == 0;
    return base + w.end + (wraps ? windows_.front().end : 0);
  }
  return kNever;  // unreachable: online(t)
}

double Availability::next_online(double t) const {
  if (online(t)) return t;
  const double tau = phase(t), base = t - tau;
  double next = kNever;
  for (const Window& w : windows_)
    if (w.start > tau) {
      next = base + w.start;
      break;
    }
  if (next == kNever && period_s_ > 0) next = base + period_s_ + windows_.front().start;
  // base + start may round to just below the window: step up to where
  // online() agrees (a few ulps), so a round started then finds its clients.
  for (int ulps = 0; next < kNever && !online(next); ++ulps) {
    require(ulps < 64, "Availability::next_online: no online moment near " + number_text(next));
    next = std::nextafter(next, kNever);
  }
  return next;
}

std::string Availability::describe() const {
  if (always()) return "always";
  std::string s;
  for (const Window& w : windows_) s += (s.empty() ? "" : ";") + number_text(w.start) + "-" + number_text(w.end);
  return period_s_ > 0 ? s + "@" + number_text(period_s_) : s;
}

}  // namespace flb::sim
