// The fields of a --system trace line (sim/system_model.h) and of its
// availability windows (sim/availability.h): trimmed text and finite
// numbers, with errors that name the field.
#pragma once

#include <string>

namespace flb::sim {

// `s` without leading and trailing blanks (space, tab, CR).
std::string trim(const std::string& s);

// All of `text` (trimmed) as a finite number; throws flb::Error
// "<what>: '<text>' is not a number" otherwise.
double finite_number(const std::string& text, const std::string& what);

}  // namespace flb::sim
