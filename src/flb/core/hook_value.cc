#include "flb/core/hook_value.h"

#include <cstdlib>
#include <utility>

#include "flb/core/error.h"

namespace flb {

HookValue::HookValue(std::string variable, std::string text)
    : prefix_(std::move(variable) + "=" + text + ": "), text_(std::move(text)) {}

void HookValue::require(bool ok, const std::string& message) const { flb::require(ok, prefix_ + message); }

std::vector<std::string> HookValue::fields(size_t n, const char* layout) const {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= text_.size(); ++i)
    if (i == text_.size() || text_[i] == ':') {
      out.push_back(text_.substr(start, i - start));
      start = i + 1;
    }
  require(out.size() == n, std::string("expected ") + layout + " (" + std::to_string(n) + " fields)");
  return out;
}

int64_t HookValue::count(const std::string& field, const char* name) const {
  char* end = nullptr;
  const long long v = std::strtoll(field.c_str(), &end, 10);
  require(!field.empty() && *end == '\0' && v >= 0,
          std::string(name) + " '" + field + "' is not a non-negative integer");
  return v;
}

const std::string& HookValue::choice(const std::string& field, const char* name,
                                     std::initializer_list<const char*> choices) const {
  std::string list;
  for (const char* c : choices) {
    if (field == c) return field;
    list += std::string(list.empty() ? "" : ", ") + c;
  }
  require(false, std::string(name) + " '" + field + "' is not one of " + list);
  return field;  // not reached
}

}  // namespace flb
