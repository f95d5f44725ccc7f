#include "flb/sim/trace_fields.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "flb/core/error.h"

namespace flb::sim {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r"), b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

double finite_number(const std::string& text, const std::string& what) {
  const std::string t = trim(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  require(!t.empty() && end == t.c_str() + t.size() && errno == 0 && std::isfinite(v),
          what + ": '" + text + "' is not a number");
  return v;
}

}  // namespace flb::sim
