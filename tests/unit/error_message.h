// The message of the flb::Error a callable throws: tests compare it with
// the text a user would need to see.
#pragma once

#include <string>

#include "flb/core/error.h"

namespace flb {

// "" when `f` returns without throwing flb::Error.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace flb
