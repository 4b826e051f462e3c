#pragma once
// Typed configuration structs read from a flat YAML map and `--key value` flags, shared by every tool:
// a table of (name, member pointer, allowed range, whether it affects training) per struct gives parsing,
// range checks, error messages, the resolved YAML, the resume rules and the documentation's key tables.
// Field types: double, int64, bool, string, a list of int64 (`[15, 10, 5]` in YAML, `15,10,5` as a flag)
// and enums (a name table; the value is checked once, when it is read).
// A schema also knows renamed keys (the old name still works and leaves a deprecation note in the config) and
// removed keys (an error naming why; skipped with a note when reading a config stored by an older run).
//
// A config struct C used with ConfigSchema<C> has two members that are not settings:
//   std::map<std::string, std::string> key_origins;  // where each key was last set
//   std::vector<std::string> notes;                  // what the program should tell the user (deprecations)

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
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
  std::string choices;  ///< the values it accepts, for the key tables ("a, b, c")
};

/// A config field of enum type `E` with the names `names`.
template <typename C, typename E>
TextField<C> enum_field(E C::*member, EnumNames<E> names) {
  std::string choices;
  for (const auto& [v, n] : names) choices += (choices.empty() ? "" : ", ") + std::string(n);
  return TextField<C>{[member, names](C& cfg, const std::string& value, const std::string& where) {
                        cfg.*member = parse_enum(names, value, where);
                      },
                      [member, names](const C& cfg) { return std::string(enum_name(names, cfg.*member)); }, choices};
}

/// Whether a key changes what pre-training computes. A resumed run may change the keys that do not (the
/// checkpoint then still continues its own run); the key tables mark them.
enum class Training { affects, unaffected };

/// @brief The values a key allows, declared beside it in the schema and checked by ConfigSchema::check_ranges:
/// for a number an interval (each end open, closed or absent), for text that it is not empty. `note` follows
/// the interval in messages ("(0: all)").
struct Range {
  double lo = -HUGE_VAL;
  double hi = HUGE_VAL;
  bool lo_open = false;
  bool hi_open = false;
  bool non_empty = false;
  std::string note;

  bool checks() const { return non_empty || std::isfinite(lo) || std::isfinite(hi); }
  bool contains(double v) const { return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi); }
  /// What is allowed, as messages and the key tables say it: "> 0", ">= 1", "[0, 1)", "(0, 1]", "a name".
  std::string text() const {
    std::ostringstream os;
    if (non_empty) return note;
    if (std::isfinite(lo) && std::isfinite(hi)) {
      os << (lo_open ? "(" : "[") << lo << ", " << hi << (hi_open ? ")" : "]");
    } else if (std::isfinite(lo)) {
      os << (lo_open ? "> " : ">= ") << lo;
    } else if (std::isfinite(hi)) {
      os << (hi_open ? "< " : "<= ") << hi;
    }
    if (!note.empty()) os << " (" << note << ")";
    return os.str();
  }
};

/// v >= lo.
inline Range at_least(double lo, std::string note = {}) { return Range{lo, HUGE_VAL, false, false, false, note}; }
/// v > lo.
inline Range above(double lo, std::string note = {}) { return Range{lo, HUGE_VAL, true, false, false, note}; }
/// lo <= v <= hi.
inline Range closed(double lo, double hi) { return Range{lo, hi, false, false, false, {}}; }
/// lo <= v < hi.
inline Range closed_open(double lo, double hi) { return Range{lo, hi, false, true, false, {}}; }
/// lo < v <= hi.
inline Range open_closed(double lo, double hi) { return Range{lo, hi, true, false, false, {}}; }
/// lo < v < hi.
inline Range open(double lo, double hi) { return Range{lo, hi, true, true, false, {}}; }
/// A text value that must not be empty; `what` says what it should be ("a name").
inline Range not_empty(std::string what) { return Range{-HUGE_VAL, HUGE_VAL, false, false, true, what}; }

/// Throws std::invalid_argument "WHERE: key = value is out of range (expected ...)", WHERE being where the key was
/// set (`origins`: "file.yaml:3" or "command line --key"), or "config" for a default.
inline void require_in_range(bool ok, const std::string& key, const std::string& value, const std::string& expected,
                             const std::map<std::string, std::string>& origins = {}) {
  if (ok) return;
  const auto it = origins.find(key);
  throw std::invalid_argument((it != origins.end() ? it->second : std::string("config")) + ": " + key + " = " + value +
                              " is out of range (expected " + expected + ")");
}

/// Where a config's text comes from: a user (file or flags: a removed key is an error) or a run that stored it
/// (checkpoint, embeddings file: a removed key is skipped with a note, so older runs keep resuming).
enum class ConfigSource { user, stored };

/// @brief The keys of a config struct `C`: each a name and a pointer to a double, int64, bool, string or
/// int64-list field, or an enum field (enum_field), with its allowed range and whether it affects training;
/// plus the old names of renamed keys and the keys removed.
template <typename C>
class ConfigSchema {
 public:
  using Member =
      std::variant<double C::*, int64_t C::*, bool C::*, std::string C::*, std::vector<int64_t> C::*, TextField<C>>;
  struct Field {
    const char* name;
    Member member;
    Range range = {};
    Training training = Training::affects;
  };
  /// @brief An old key name: reading it sets `new_name` (its value through `translate` when that is set, for a
  /// key whose type changed) and notes the deprecation in the config.
  struct Alias {
    const char* old_name;
    const char* new_name;
    std::function<std::string(const std::string& value, const std::string& where)> translate = {};
    bool old_is_bool = false;  ///< the old key took a bool (a bare `--old_name` flag means true)
  };
  /// @brief A key that no longer exists and why (the error says it).
  struct Removed {
    const char* name;
    const char* why;
  };

  /// How to_yaml() writes string values: bare, or double-quoted so that "none" or "1" read back as strings.
  enum class Strings { bare, quoted };

  explicit ConfigSchema(std::vector<Field> fields, Strings strings = Strings::bare, std::vector<Alias> aliases = {},
                        std::vector<Removed> removed = {})
      : fields_(std::move(fields)), strings_(strings), aliases_(std::move(aliases)), removed_(std::move(removed)) {
    for (const auto& a : aliases_) {
      if (!find(a.new_name)) throw std::logic_error(std::string("alias of an unknown key: ") + a.new_name);
    }
  }

  /// A renamed key whose type is unchanged.
  static Alias renamed(const char* old_name, const char* new_name) { return Alias{old_name, new_name}; }
  /// A bool key that became an enum key: true and false become `if_true` and `if_false`.
  static Alias bool_became(const char* old_name, const char* new_name, const char* if_true, const char* if_false) {
    const std::string key = old_name, t = if_true, f = if_false;
    return Alias{old_name, new_name,
                 [key, t, f](const std::string& value, const std::string& where) {
                   return parse_bool(where, key, value) ? t : f;
                 },
                 true};
  }

  /// The keys, in table order (the resolved YAML's order).
  std::vector<std::string> keys() const {
    std::vector<std::string> k;
    for (const auto& f : fields_) k.emplace_back(f.name);
    return k;
  }
  /// The keys that hold a bool.
  std::vector<std::string> bool_keys() const {
    std::vector<std::string> k;
    for (const auto& f : fields_) {
      if (std::holds_alternative<bool C::*>(f.member)) k.emplace_back(f.name);
    }
    return k;
  }
  /// The keys marked Training::unaffected: a resumed run may change them.
  std::vector<std::string> keys_not_affecting_training() const {
    std::vector<std::string> k;
    for (const auto& f : fields_) {
      if (f.training == Training::unaffected) k.emplace_back(f.name);
    }
    return k;
  }
  /// Every name a flag may use: the keys, the old names of renamed keys, and the removed keys (so that the
  /// command line hands them to set(), whose message says what became of them).
  std::vector<std::string> flag_names() const {
    auto k = keys();
    for (const auto& a : aliases_) k.emplace_back(a.old_name);
    for (const auto& r : removed_) k.emplace_back(r.name);
    return k;
  }
  /// The flag names that take a bool (bare `--name` means true).
  std::vector<std::string> bool_flag_names() const {
    auto k = bool_keys();
    for (const auto& a : aliases_) {
      if (is_bool(a.old_name)) k.emplace_back(a.old_name);
    }
    return k;
  }
  const std::vector<Alias>& aliases() const { return aliases_; }
  const std::vector<Removed>& removed() const { return removed_; }

  bool has(const std::string& key) const { return find(key) != nullptr; }
  /// True for a bool key or the old name of one.
  bool is_bool(const std::string& key) const {
    if (const Alias* a = find_alias(key)) {
      if (a->old_is_bool) return true;
      if (a->translate) return false;
    }
    const Field* f = find(canonical(key));
    return f && std::holds_alternative<bool C::*>(f->member);
  }

  bool is_list(const std::string& key) const {
    const Field* f = find(canonical(key));
    return f && std::holds_alternative<std::vector<int64_t> C::*>(f->member);
  }

  /// The key an old name stands for (`key` itself otherwise).
  std::string canonical(const std::string& key) const {
    const Alias* a = find_alias(key);
    return a ? a->new_name : key;
  }

  /// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
  /// A list is written "15,10,5" or "[15, 10, 5]" ("[]" or "" for an empty list). An old name sets its new key
  /// and adds a note to cfg.notes; a removed key is an error, or (source stored) skipped with a note.
  void set(C& cfg, const std::string& key, const std::string& value, const std::string& where,
           ConfigSource source = ConfigSource::user) const {
    if (const Removed* r = find_removed(key)) {
      if (source == ConfigSource::user) fail(where, key, std::string("was removed: ") + r->why);
      note(cfg, where + ": key '" + key + "' was removed (" + r->why + "); its value is ignored");
      return;
    }
    if (const Alias* a = find_alias(key)) {
      note(cfg, where + ": key '" + key + "' is deprecated: it is now '" + a->new_name + "'");
      set_field(cfg, a->new_name, a->translate ? a->translate(value, where) : value, where);
      return;
    }
    set_field(cfg, key, value, where);
  }

  /// Applies a YAML map; unknown or repeated keys and non-scalar values are errors naming source:line.
  /// Returns the keys set (an old name as its new key).
  std::vector<std::string> apply_yaml(C& cfg, const YAML::Node& root, const std::string& source,
                                      ConfigSource from = ConfigSource::user) const {
    if (root.IsNull()) return {};
    if (!root.IsMap()) throw std::invalid_argument("config '" + source + "' must be a map of key: value lines");
    std::vector<std::string> set_keys;
    std::set<std::string> seen;
    for (const auto& item : root) {
      const std::string where = source + ":" + std::to_string(item.first.Mark().line + 1);
      if (!item.first.IsScalar()) throw std::invalid_argument(where + ": keys must be plain names");
      const auto key = item.first.Scalar();
      if (!seen.insert(canonical(key)).second) fail(where, key, twice_text(key, "is set twice in the file"));
      if (item.second.IsSequence() && is_list(key)) {
        std::string joined;
        for (const auto& element : item.second) {
          if (!element.IsScalar()) fail(where, key, "must be a list of integers");
          joined += (joined.empty() ? "" : ",") + element.Scalar();
        }
        set(cfg, key, joined, where, from);
      } else {
        if (!item.second.IsScalar() && !item.second.IsNull()) fail(where, key, "must have a single value");
        set(cfg, key, item.second.IsNull() ? (is_list(key) ? "" : "none") : item.second.Scalar(), where, from);
      }
      if (!find_removed(key)) set_keys.push_back(canonical(key));
    }
    return set_keys;
  }

  std::vector<std::string> apply_file(C& cfg, const std::string& path) const {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      throw std::invalid_argument("config file '" + path +
                                  "' is a directory; give a YAML file (e.g. configs/cora.yaml)");
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

  std::vector<std::string> apply_text(C& cfg, const std::string& text, const std::string& source,
                                      ConfigSource from = ConfigSource::user) const {
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw std::invalid_argument("config '" + source + "': " + e.what());
    }
    return apply_yaml(cfg, root, source, from);
  }

  /// Applies `--key value` pairs; a key given twice (also under its old name) is an error.
  void apply_overrides(C& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) const {
    std::set<std::string> seen;
    for (const auto& [key, value] : overrides) {
      if (!seen.insert(canonical(key)).second) fail("command line", key, twice_text(key, "is given twice"));
      set(cfg, key, value, "command line --" + key);
    }
  }

  /// Checks every key's declared range; throws std::invalid_argument "WHERE: key = value is out of range
  /// (expected ...)" for the first one outside it, in table order.
  void check_ranges(const C& cfg) const {
    for (const auto& f : fields_) {
      if (!f.range.checks()) continue;
      std::visit(
          [&](auto ptr) {
            if constexpr (!std::is_same_v<decltype(ptr), TextField<C>>) {
              using T = std::decay_t<decltype(cfg.*ptr)>;
              if constexpr (std::is_same_v<T, double> || std::is_same_v<T, int64_t>) {
                std::ostringstream os;
                os << cfg.*ptr;
                require_in_range(f.range.contains(static_cast<double>(cfg.*ptr)), f.name, os.str(), f.range.text(),
                                 cfg.key_origins);
              } else if constexpr (std::is_same_v<T, std::string>) {
                require_in_range(!(f.range.non_empty && (cfg.*ptr).empty()), f.name, "\"\"", f.range.text(),
                                 cfg.key_origins);
              }
            }
          },
          f.member);
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

  /// The key tables of the documentation, in Markdown: every key with its default (from `defaults`), what it
  /// allows and whether a resumed run may change it; then the renamed and the removed keys.
  std::string markdown(const C& defaults) const {
    std::ostringstream os;
    os << "| key | default | allowed | resume may change |\n|---|---|---|---|\n";
    for (const auto& f : fields_) {
      os << "| `" << f.name << "` | `" << shortest(format(defaults, f.member)) << "` | " << allowed(f) << " | "
         << (f.training == Training::unaffected ? "yes" : "") << " |\n";
    }
    if (!aliases_.empty()) {
      os << "\nRenamed (the old name still works and prints a deprecation note):\n\n| old name | key |\n|---|---|\n";
      for (const auto& a : aliases_) os << "| `" << a.old_name << "` | `" << a.new_name << "` |\n";
    }
    if (!removed_.empty()) {
      os << "\nRemoved (a config or flag that sets one is an error saying why; a checkpoint that stored one still "
            "loads):\n\n| key | why |\n|---|---|\n";
      for (const auto& r : removed_) os << "| `" << r.name << "` | " << r.why << " |\n";
    }
    return os.str();
  }

 private:
  void set_field(C& cfg, const std::string& key, const std::string& value, const std::string& where) const {
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
  // A number in the fewest digits that read back as the same double ("0.2" for 0.20000000000000001).
  static std::string shortest(const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || text.find_first_of(".e") == std::string::npos) return text;
    for (int digits = 1; digits <= 17; ++digits) {
      std::ostringstream os;
      os.precision(digits);
      os << v;
      if (std::strtod(os.str().c_str(), nullptr) == v) return os.str();
    }
    return text;
  }
  static void note(C& cfg, const std::string& text) {
    if (std::find(cfg.notes.begin(), cfg.notes.end(), text) == cfg.notes.end()) cfg.notes.push_back(text);
  }
  std::string twice_text(const std::string& key, const std::string& what) const {
    const auto k = canonical(key);
    return k == key ? what : what + " (as '" + k + "')";
  }
  std::string allowed(const Field& f) const {
    std::string kind;
    std::visit(
        [&](auto ptr) {
          using P = decltype(ptr);
          if constexpr (std::is_same_v<P, TextField<C>>) {
            kind = ptr.choices;
          } else {
            using T = std::decay_t<decltype(std::declval<C>().*ptr)>;
            if constexpr (std::is_same_v<T, std::vector<int64_t>>) kind = "list of integers";
            if constexpr (std::is_same_v<T, bool>) kind = "true, false";
            if constexpr (std::is_same_v<T, double>) kind = "number";
            if constexpr (std::is_same_v<T, int64_t>) kind = "integer";
            if constexpr (std::is_same_v<T, std::string>) kind = "text";
          }
        },
        f.member);
    return f.range.checks() ? kind + ", " + f.range.text() : kind;
  }
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
  const Alias* find_alias(const std::string& key) const {
    for (const auto& a : aliases_) {
      if (key == a.old_name) return &a;
    }
    return nullptr;
  }
  const Removed* find_removed(const std::string& key) const {
    for (const auto& r : removed_) {
      if (key == r.name) return &r;
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
  static std::vector<int64_t> parse_int_list(const std::string& where, const std::string& key,
                                             const std::string& text) {
    std::string v = text;
    if (v.size() >= 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
    std::vector<int64_t> out;
    if (v.find_first_not_of(" \t") == std::string::npos) return out;  // "" or "[]": an empty list
    const std::string expected = "expects a list of integers such as 15,10,5, got '" + text + "'";
    std::string item;
    std::stringstream ss(v);
    while (std::getline(ss, item, ',')) {
      errno = 0;
      char* end = nullptr;
      const long long i = std::strtoll(item.c_str(), &end, 10);
      while (end != nullptr && (*end == ' ' || *end == '\t')) ++end;
      if (item.find_first_not_of(" \t") == std::string::npos || *end != '\0' || errno == ERANGE) {
        fail(where, key, expected);
      }
      out.push_back(i);
    }
    if (!v.empty() && v.back() == ',') fail(where, key, expected);
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
  std::vector<Alias> aliases_;
  std::vector<Removed> removed_;
};

}  // namespace graphmae2::models::engine
