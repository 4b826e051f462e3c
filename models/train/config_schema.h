#pragma once
// Typed configuration structs read from a flat YAML map and `--key value` flags, shared by every tool:
// a table of (name, member pointer) per struct gives parsing, error messages and the resolved YAML.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace graphmae2::models::train {

/// @brief The keys of a config struct `C`: each a name and a pointer to a double, int64, bool or string field.
template <typename C>
class ConfigSchema {
 public:
  using Member = std::variant<double C::*, int64_t C::*, bool C::*, std::string C::*>;
  struct Field {
    const char* name;
    Member member;
  };

  /// How to_yaml() writes string values: bare, or double-quoted so that "none" or "1" read back as strings.
  enum class Strings { bare, quoted };

  explicit ConfigSchema(std::vector<Field> fields, Strings strings = Strings::bare)
      : fields_(std::move(fields)), strings_(strings) {}

  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& f : fields_) k.emplace_back(f.name);
    return k;
  }
  bool has(const std::string& key) const { return find(key) != nullptr; }
  bool is_bool(const std::string& key) const {
    const Field* f = find(key);
    return f && std::holds_alternative<bool C::*>(f->member);
  }

  /// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
  void set(C& cfg, const std::string& key, const std::string& value, const std::string& where) const {
    const Field* f = find(key);
    if (!f) fail(where, key, "is not a known key (the tool's --help lists them)");
    std::visit(
        [&](auto ptr) {
          using T = std::decay_t<decltype(cfg.*ptr)>;
          if constexpr (std::is_same_v<T, bool>) {
            cfg.*ptr = parse_bool(where, key, value);
          } else if constexpr (std::is_same_v<T, double>) {
            cfg.*ptr = parse_double(where, key, value);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            cfg.*ptr = parse_int(where, key, value);
          } else {
            cfg.*ptr = value;
          }
        },
        f->member);
  }

  /// Applies a YAML map; unknown or repeated keys and non-scalar values are errors naming source:line.
  std::vector<std::string> apply_yaml(C& cfg, const YAML::Node& root, const std::string& source) const {
    if (root.IsNull()) return {};
    if (!root.IsMap()) throw std::invalid_argument("config '" + source + "' must be a map of key: value lines");
    std::vector<std::string> set_keys;
    std::set<std::string> seen;
    for (const auto& item : root) {
      const std::string where = source + ":" + std::to_string(item.first.Mark().line + 1);
      if (!item.first.IsScalar()) throw std::invalid_argument(where + ": keys must be plain names");
      const auto key = item.first.Scalar();
      if (!seen.insert(key).second) fail(where, key, "is set twice in the file");
      if (!item.second.IsScalar() && !item.second.IsNull()) fail(where, key, "must have a single value");
      set(cfg, key, item.second.IsNull() ? "none" : item.second.Scalar(), where);
      set_keys.push_back(key);
    }
    return set_keys;
  }

  std::vector<std::string> apply_file(C& cfg, const std::string& path) const {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
      throw std::invalid_argument("config file '" + path + "' cannot be opened");
    } catch (const YAML::Exception& e) {
      throw std::invalid_argument("config file '" + path + "': " + e.what());
    }
    return apply_yaml(cfg, root, path);
  }

  std::vector<std::string> apply_text(C& cfg, const std::string& text, const std::string& source) const {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw std::invalid_argument("config '" + source + "': " + e.what());
    }
    return apply_yaml(cfg, root, source);
  }

  /// Applies `--key value` pairs; a key given twice is an error.
  void apply_overrides(C& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) const {
    std::set<std::string> seen;
    for (const auto& [key, value] : overrides) {
      if (!seen.insert(key).second) fail("command line", key, "is given twice");
      set(cfg, key, value, "command line --" + key);
    }
  }

  /// Every key as `name: value` lines, in table order (doubles with full precision, so it round-trips).
  std::string to_yaml(const C& cfg) const {
    std::ostringstream os;
    for (const auto& f : fields_) os << f.name << ": " << format(cfg, f.member) << "\n";
    return os.str();
  }

  /// Keys whose values differ between two configs, except those in `ignore`.
  std::vector<std::string> differing_keys(const C& a, const C& b, const std::vector<std::string>& ignore) const {
    std::vector<std::string> out;
    for (const auto& f : fields_) {
      if (std::find(ignore.begin(), ignore.end(), f.name) != ignore.end()) continue;
      if (format(a, f.member) != format(b, f.member)) out.emplace_back(f.name);
    }
    return out;
  }

 private:
  std::string format(const C& cfg, const Member& member) const {
    std::ostringstream os;
    std::visit(
        [&](auto ptr) {
          using T = std::decay_t<decltype(cfg.*ptr)>;
          if constexpr (std::is_same_v<T, bool>) {
            os << ((cfg.*ptr) ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            os.precision(17);
            os << (cfg.*ptr);
          } else if constexpr (std::is_same_v<T, std::string>) {
            if (strings_ == Strings::quoted) {
              os << '"' << (cfg.*ptr) << '"';
            } else {
              os << (cfg.*ptr);
            }
          } else {
            os << (cfg.*ptr);
          }
        },
        member);
    return os.str();
  }
  const Field* find(const std::string& key) const {
    for (const auto& f : fields_) {
      if (key == f.name) return &f;
    }
    return nullptr;
  }
  [[noreturn]] static void fail(const std::string& where, const std::string& key, const std::string& what) {
    throw std::invalid_argument(where + ": key '" + key + "' " + what);
  }
  static double parse_double(const std::string& where, const std::string& key, const std::string& v) {
    errno = 0;
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE || !std::isfinite(d)) {
      fail(where, key, "expects a number, got '" + v + "'");
    }
    return d;
  }
  static int64_t parse_int(const std::string& where, const std::string& key, const std::string& v) {
    errno = 0;
    char* end = nullptr;
    const long long i = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE) {
      fail(where, key, "expects an integer, got '" + v + "'");
    }
    return i;
  }
  static bool parse_bool(const std::string& where, const std::string& key, const std::string& v) {
    std::string l = v;
    std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
    if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
    if (l == "false" || l == "0" || l == "no" || l == "off") return false;
    fail(where, key, "expects true or false, got '" + v + "'");
  }

  std::vector<Field> fields_;
  Strings strings_;
};

/// Throws std::invalid_argument "config: KEY = VALUE is out of range (expected EXPECTED)" unless ok.
inline void require_in_range(bool ok, const std::string& key, const std::string& value, const std::string& expected) {
  if (!ok) throw std::invalid_argument("config: " + key + " = " + value + " is out of range (expected " + expected + ")");
}

}  // namespace graphmae2::models::train
