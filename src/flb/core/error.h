// Errors are values carried up to one place that prints them.
//
// flb::Error is the one exception type the library throws for a problem the
// user can fix (bad option, missing or corrupt file, malformed payload).
// Its message says what was wrong and, where it can, what to do next.
// apps/ catch it at the top, print it once (rank 0) and exit non-zero.
#pragma once

#include <stdexcept>
#include <string>

namespace flb {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Throws flb::Error(message) when `condition` is false.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace flb
