// HookValue: parses the value of a test hook's environment variable
// (FLB_TEST_FAULT, FLB_TEST_UPLOAD): colon-separated fields, each a
// non-negative count or one of a list of names. Every error names the
// variable, its value and the field, so a test whose hook is mistyped
// fails instead of passing because the hook never fired.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace flb {

class HookValue {
 public:
  HookValue(std::string variable, std::string text);

  // The value split at ':' into exactly `n` fields; `layout` names them
  // for the error ("RANK:ROUND:KIND").
  std::vector<std::string> fields(size_t n, const char* layout) const;

  // `field` as a non-negative integer; `name` is the field's name.
  int64_t count(const std::string& field, const char* name) const;

  // `field` when it is one of `choices`; otherwise an error listing them.
  const std::string& choice(const std::string& field, const char* name,
                            std::initializer_list<const char*> choices) const;

  // Throws flb::Error "VAR=value: <message>" unless `ok`.
  void require(bool ok, const std::string& message) const;

 private:
  std::string prefix_;  // "VAR=value: "
  std::string text_;
};

}  // namespace flb
