#pragma once
// Typed configuration structs read from a flat YAML map and `--key value` flags, shared by every tool:
// a table of (name, member pointer) per struct gives parsing, error messages and the resolved YAML.
// Field types: double, int64, bool, string, a list of int64 (`[15, 10, 5]` in YAML, `15,10,5` as a flag)
// and enums (a name table; the value is checked once, when it is read).

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <map>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace graphmae2::models::engine {

/// @brief The names of an enum's values, in declaration order: `{{E::a, "a"}, {E::b, "b"}}`.
template <typename E>
using EnumNames = std::vector<std::pair<E, const char*>>;

/// The name of `value` in `names` ("?" when it has none).
template <typename E>
const char* enum_name(const EnumNames<E>& names, E value) {
  for (const auto& [v, n] : names) {
    if (v == value) return n;
  }
  return "?";
}

/// The value named `text`; std::invalid_argument listing the choices otherwise.
template <typename E>
E parse_enum(const EnumNames<E>& names, const std::string& text, const std::string& what) {
  std::string choices;
  for (const auto& [v, n] : names) {
    if (text == n) return v;
    choices += (choices.empty() ? "" : ", ") + std::string(n);
  }
  throw std::invalid_argument(what + ": '" + text + "' is not one of " + choices);
}

/// @brief A field whose type is not one of the built-in ones (an enum): reads and writes its value as text.
template <typename C>
struct TextField {
  std::function<void(C&, const std::string& value, const std::string& where)> set;
  std::function<std::string(const C&)> get;
};

/// A config field of enum type `E` with the names `names`.
template <typename C, typename E>
TextField<C> enum_field(E C::*member, EnumNames<E> names) {
  return TextField<C>{[member, names](C& cfg, const std::string& value, const std::string& where) {
                        cfg.*member = parse_enum(names, value, where);
                      },
                      [member, names](const C& cfg) { return std::string(enum_name(names, cfg.*member)); }};
}

/// @brief The keys of a config struct `C`: each a name and a pointer to a double, int64, bool, string or
/// int64-list field, or an enum field (enum_field).
template <typename C>
class ConfigSchema {
 public:
  using Member = std::variant<double C::*, int64_t C::*, bool C::*, std::string C::*, std::vector<int64_t> C::*,
                              TextField<C>>;
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

  bool is_list(const std::string& key) const {
    const Field* f = find(key);
    return f && std::holds_alternative<std::vector<int64_t> C::*>(f->member);
  }

  /// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
  /// A list is written "15,10,5" or "[15, 10, 5]" ("[]" or "" for an empty list).
  void set(C& cfg, const std::string& key, const std::string& value, const std::string& where) const {
    const Field* f = find(key);
    if (!f) fail(where, key, "is not a known key (the tool's --list-keys prints them)");
    cfg.key_origins[key] = where;
    if (const auto* text = std::get_if<TextField<C>>(&f->member)) {
      text->set(cfg, value, where + ": key '" + key + "'");
      return;
    }
    std::visit(
        [&](auto ptr) {
          if constexpr (!std::is_same_v<decltype(ptr), TextField<C>>) {
          using T = std::decay_t<decltype(cfg.*ptr)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            cfg.*ptr = parse_int_list(where, key, value);
          } else if constexpr (std::is_same_v<T, bool>) {
            cfg.*ptr = parse_bool(where, key, value);
          } else if constexpr (std::is_same_v<T, double>) {
            cfg.*ptr = parse_double(where, key, value);
          } else if constexpr (std::is_same_v<T, int64_t>) {
            cfg.*ptr = parse_int(where, key, value);
          } else {
            cfg.*ptr = value;
          }
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
      if (item.second.IsSequence() && is_list(key)) {
        std::string joined;
        for (const auto& element : item.second) {
          if (!element.IsScalar()) fail(where, key, "must be a list of integers");
          joined += (joined.empty() ? "" : ",") + element.Scalar();
        }
        set(cfg, key, joined, where);
      } else {
        if (!item.second.IsScalar() && !item.second.IsNull()) fail(where, key, "must have a single value");
        set(cfg, key, item.second.IsNull() ? (is_list(key) ? "" : "none") : item.second.Scalar(), where);
      }
      set_keys.push_back(key);
    }
    return set_keys;
  }

  std::vector<std::string> apply_file(C& cfg, const std::string& path) const {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw std::invalid_argument("config file '" + path + "' is a directory; give a YAML file (e.g. configs/cora.yaml)");
    }
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::BadFile&) {
      throw std::invalid_argument("config file '" + path + "' cannot be opened");
    } catch (const YAML::Exception& e) {
      throw std::invalid_argument("config file '" + path + "': " + e.what());
    } catch (const std::exception& e) {
      throw std::invalid_argument("config file '" + path + "' cannot be read: " + e.what());
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
    if (const auto* text = std::get_if<TextField<C>>(&member)) return text->get(cfg);
    std::ostringstream os;
    std::visit(
        [&](auto ptr) {
          if constexpr (!std::is_same_v<decltype(ptr), TextField<C>>) {
          using T = std::decay_t<decltype(cfg.*ptr)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            os << "[";
            for (size_t i = 0; i < (cfg.*ptr).size(); ++i) os << (i ? ", " : "") << (cfg.*ptr)[i];
            os << "]";
          } else if constexpr (std::is_same_v<T, bool>) {
            os << ((cfg.*ptr) ? "true" : "false");
          } else if constexpr (std::is_same_v<T, double>) {
            os.precision(17);
            os << (cfg.*ptr);
          } else if constexpr (std::is_same_v<T, std::string>) {
            if (strings_ == Strings::quoted || (cfg.*ptr).empty()) {  // a bare empty value would read back as null
              os << '"' << (cfg.*ptr) << '"';
            } else {
              os << (cfg.*ptr);
            }
          } else {
            os << (cfg.*ptr);
          }
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
  static std::vector<int64_t> parse_int_list(const std::string& where, const std::string& key, const std::string& text) {
    std::string v = text;
    if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
    std::vector<int64_t> out;
    if (v.find_first_not_of(" \t") == std::string::npos) return out;  // "" or "[]": an empty list
    std::string item;
    std::stringstream ss(v);
    while (std::getline(ss, item, ',')) {
      errno = 0;
      char* end = nullptr;
      const long long i = std::strtoll(item.c_str(), &end, 10);
      while (end != nullptr && (*end == ' ' || *end == '\t')) ++end;
      if (item.find_first_not_of(" \t") == std::string::npos || *end != '\0' || errno == ERANGE) {
        fail(where, key, "expects a list of integers such as 15,10,5, got '" + text + "'");
      }
      out.push_back(i);
    }
    if (!v.empty() && v.back() == ',') fail(where, key, "expects a list of integers such as 15,10,5, got '" + text + "'");
    return out;
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
/// Throws std::invalid_argument "WHERE: key = value is out of range (expected ...)", WHERE being where the key was
/// set (`origins`: "file.yaml:3" or "command line --key"), or "config" for a default.
inline void require_in_range(bool ok, const std::string& key, const std::string& value, const std::string& expected,
                             const std::map<std::string, std::string>& origins = {}) {
  if (ok) return;
  const auto it = origins.find(key);
  throw std::invalid_argument((it != origins.end() ? it->second : std::string("config")) + ": " + key + " = " + value +
                              " is out of range (expected " + expected + ")");
}

}  // namespace graphmae2::models::engine
