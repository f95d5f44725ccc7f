#include "config_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>

namespace flbench {
namespace {

// What a config value must be, from the option CLI11 holds.
enum class Kind { kFlag, kInt, kUint, kFloat, kText };

Kind kind_of(const CLI::Option& o) {
  if (o.get_expected_min() == 0) return Kind::kFlag;  // as CLI11's writer tells flags
  const std::string type = o.get_type_name().substr(0, o.get_type_name().find(':'));
  if (type == "INT") return Kind::kInt;
  if (type == "UINT") return Kind::kUint;
  if (type == "FLOAT") return Kind::kFloat;
  return Kind::kText;
}

std::string kind_name(Kind k, bool plural = false) {
  switch (k) {
    case Kind::kFlag: return plural ? "booleans" : "true or false";
    case Kind::kInt: return plural ? "integers" : "an integer";
    case Kind::kUint: return plural ? "non-negative integers" : "a non-negative integer";
    case Kind::kFloat: return plural ? "numbers" : "a number";
    case Kind::kText: return plural ? "strings" : "a string";
  }
  return "?";
}

const char* toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

// The shortest decimal text that reads back as exactly `v`.
std::string float_text(double v) {
  char buf[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// One scalar as CLI11 input text, or false when it is not of kind `k`.
bool scalar_text(const toml::node& n, Kind k, std::string* out) {
  switch (k) {
    case Kind::kFlag:
      if (!n.is_boolean()) return false;
      *out = n.as_boolean()->get() ? "true" : "false";
      return true;
    case Kind::kInt:
    case Kind::kUint:
      if (!n.is_integer() || (k == Kind::kUint && n.as_integer()->get() < 0)) return false;
      *out = std::to_string(n.as_integer()->get());
      return true;
    case Kind::kFloat:
      if (n.is_integer()) {
        *out = std::to_string(n.as_integer()->get());
        return true;
      }
      if (!n.is_floating_point()) return false;
      *out = float_text(n.as_floating_point()->get());
      return true;
    case Kind::kText:
      if (!n.is_string()) return false;
      *out = n.as_string()->get();
      return true;
  }
  return false;
}

std::string normalized(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// The key written on `line` (1-based) of `text`: what precedes '=', trimmed.
std::string key_on_line(const std::string& text, size_t line) {
  std::istringstream in(text);
  std::string s;
  for (size_t i = 0; i < line && std::getline(in, s); ++i) {
  }
  const size_t eq = s.find('=');
  if (eq == std::string::npos) return "";
  s = s.substr(0, eq);
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// CLI11's config reader, made strict; writing (to_config) is CLI11's.
class StrictToml : public CLI::ConfigBase {
 public:
  explicit StrictToml(CLI::App& app) : app_(app) {}

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    const std::string path = app_.get_config_ptr()->as<std::string>();
    const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
    toml::table table;
    try {
      table = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      const size_t line = e.source().begin.line;
      const std::string key = key_on_line(text, line);
      const std::string at = path + ":" + std::to_string(line) + ": " + (key.empty() ? "" : key + ": ");
      if (!key.empty() && e.description().find("cannot redefine") != std::string_view::npos)
        for (size_t earlier = 1; earlier < line; ++earlier)
          if (key_on_line(text, earlier) == key) throw ConfigFileError(at + "given twice (also on line " + std::to_string(earlier) + ")");
      throw ConfigFileError(at + "TOML syntax error: " + std::string(e.description()));
    }
    // Keys in the order of the file, so that the first mistake is reported.
    std::vector<std::pair<const toml::key*, const toml::node*>> keys;
    for (auto&& [k, v] : table) keys.emplace_back(&k, &v);
    std::sort(keys.begin(), keys.end(),
              [](const auto& a, const auto& b) { return a.first->source().begin.line < b.first->source().begin.line; });
    std::vector<CLI::ConfigItem> items;
    std::map<std::string, std::pair<std::string, size_t>> seen;  // normalized -> (as written, line)
    for (const auto& [k, v] : keys) items.push_back(item(path, *k, *v, &seen));
    return items;
  }

 private:
  [[noreturn]] static void fail(const std::string& path, size_t line, const std::string& key, const std::string& what) {
    throw ConfigFileError(path + ":" + std::to_string(line) + ": " + key + ": " + what);
  }

  // Every key a config file may set: the long names of the configurable options.
  std::vector<std::string> valid_keys() const {
    std::vector<std::string> keys;
    for (const CLI::Option* o : app_.get_options())
      if (o->get_configurable())
        for (const std::string& n : o->get_lnames()) keys.push_back(n);
    return keys;
  }

  CLI::ConfigItem item(const std::string& path, const toml::key& k, const toml::node& v,
                       std::map<std::string, std::pair<std::string, size_t>>* seen) const {
    const std::string key(k.str());
    const size_t line = k.source().begin.line;
    const std::string name = normalized(key);
    if (v.is_table())
      fail(path, line, key, "flbench's config has no tables: write every option as `name = value` at the top");
    for (const auto& [old_name, new_name] : renamed_options())
      if (name == old_name) fail(path, line, key, "was renamed " + new_name);
    CLI::Option* o = app_.get_option_no_throw("--" + name);
    if (!o || !o->get_configurable()) {
      const std::string near = closest(name, valid_keys());
      fail(path, line, key,
           "unknown option" + (near.empty() ? std::string(" (the keys are the long options without --)")
                                            : " (did you mean " + near + "?)"));
    }
    const auto [previous, first] = seen->emplace(name, std::make_pair(key, line));
    if (!first)
      fail(path, line, key,
           "given twice (also as " + previous->second.first + " on line " + std::to_string(previous->second.second) + ")");

    CLI::ConfigItem item;
    item.name = name;
    const Kind kind = kind_of(*o);
    const bool list = o->get_items_expected_max() > 1;
    std::string text;
    if (list && v.is_array()) {
      for (const toml::node& e : *v.as_array()) {
        if (!scalar_text(e, kind, &text))
          fail(path, line, key, "expected a list of " + kind_name(kind, true) + ", got " + toml_type_name(e) + " in it");
        item.inputs.push_back(text);
      }
    } else if (scalar_text(v, kind, &text)) {
      if (list && kind == Kind::kText) {
        // A list as one string: CLI11 writes a list's default as "de es it" (and
        // splits on ','), so words separated by blanks are its elements.
        std::istringstream words(text);
        for (std::string w; words >> w;) item.inputs.push_back(w);
        if (item.inputs.empty()) item.inputs.push_back(text);
      } else {
        item.inputs.push_back(text);
      }
    } else if (kind == Kind::kUint && v.is_integer()) {
      fail(path, line, key, "must not be negative");
    } else {
      fail(path, line, key, "expected " + (list ? "a list of " + kind_name(kind, true) + " or " : std::string()) +
                                kind_name(kind) + ", got " + toml_type_name(v));
    }
    // The option's own checks (ranges, choices), so that a bad value names its line too.
    for (const std::string& input : item.inputs) {
      const std::string error = check_value(*o, input);
      if (!error.empty()) fail(path, line, key, error);
    }
    return item;
  }

  // What the option's validators say of `input` ("" when it passes).
  static std::string check_value(CLI::Option& o, const std::string& input) {
    if (o.get_expected_min() == 0) return "";  // a flag: true or false, checked above
    for (int i = 0;; ++i) {
      CLI::Validator* v = nullptr;
      try {
        v = o.get_validator(i);
      } catch (const CLI::OptionNotFound&) {
        return "";
      }
      if (!v->get_active()) continue;
      std::string copy = input;
      const std::string error = (*v)(copy);
      if (!error.empty()) return error;
    }
  }

  CLI::App& app_;
};

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& renamed_options() {
  static const std::vector<std::pair<std::string, std::string>> kRenamed = {
      {"rank", "lora-rank"},                   // "rank" means an MPI rank only
      {"client-ranks", "client-lora-ranks"},
  };
  return kRenamed;
}

void reject_renamed_options(int argc, const char* const* argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return;
    for (const auto& [old_name, new_name] : renamed_options()) {
      const std::string flag = "--" + old_name;
      if (arg == flag || arg.rfind(flag + "=", 0) == 0) throw ConfigFileError(flag + " was renamed --" + new_name);
    }
  }
}

void use_strict_config(CLI::App& app) { app.config_formatter(std::make_shared<StrictToml>(app)); }

namespace {

// A list as CLI11 writes a given list option: ["de", "es"], [1, 2].
std::string toml_array(const std::string& words) {
  std::string list, w;
  std::istringstream in(words);
  while (in >> w) {
    char* end = nullptr;
    std::strtod(w.c_str(), &end);
    const bool bare = *end == '\0' || w == "true" || w == "false";
    list += (list.empty() ? "" : ", ") + (bare ? w : "\"" + w + "\"");
  }
  return "[" + list + "]";
}

// The arrays of the list options left at a non-empty default, by config
// key. CLI11 writes such an option as one string ("de es it code") but a
// given one as an array; both read back the same, but the texts differ, and
// --resume compares texts (sim/checkpoint.h).
std::map<std::string, std::string> defaulted_lists(const CLI::App& app) {
  std::map<std::string, std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    std::string words = o->get_default_str();
    if (o->get_expected_max() <= 1 || o->count() > 0 || words.empty()) continue;
    for (char& ch : words)
      if (ch == ',' || ch == '[' || ch == ']') ch = ' ';  // "[a,b]" (newer CLI11) as "a b"
    out[o->get_single_name()] = toml_array(words);
  }
  return out;
}

}  // namespace

std::string effective_config(const CLI::App& app) {
  const std::map<std::string, std::string> lists = defaulted_lists(app);
  std::istringstream in(app.config_to_str(/*default_also=*/true, /*write_description=*/false));
  std::string out;
  for (std::string line; std::getline(in, line);) {
    // --resume is left out so that the config reproduces the run from its start.
    if (line.rfind("version=", 0) == 0 || line.rfind("resume=", 0) == 0 || line.rfind("pretrain", 0) == 0 ||
        line.rfind("tokenize", 0) == 0 || line.rfind("eval.", 0) == 0 || line.rfind("[eval", 0) == 0)
      continue;
    if (line == "accumulate-rounds=\"\"" || line == "client-lora-ranks=\"\"") continue;
    if (line == "ood-domains=\"\"") line = "ood-domains=\"none\"";
    const auto list = lists.find(line.substr(0, line.find('=')));
    if (list != lists.end() && line != list->first + "=\"\"") line = list->first + "=" + list->second;
    out += line + "\n";
  }
  return out;
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;  // a likely typo: at most max(2, len/3) edits
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

}  // namespace flbench
