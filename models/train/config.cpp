#include "models/train/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <variant>

namespace graphmae2::models::train {

namespace {

using Member = std::variant<double TrainConfig::*, int64_t TrainConfig::*, bool TrainConfig::*,
                            std::string TrainConfig::*>;
struct Field {
  const char* name;
  Member member;
};

// Declaration order = order of the resolved YAML.
const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      {"lr", &TrainConfig::lr},
      {"weight_decay", &TrainConfig::weight_decay},
      {"max_epoch", &TrainConfig::max_epoch},
      {"optimizer", &TrainConfig::optimizer},
      {"scheduler", &TrainConfig::scheduler},
      {"max_grad_norm", &TrainConfig::max_grad_norm},
      {"num_hidden", &TrainConfig::num_hidden},
      {"num_heads", &TrainConfig::num_heads},
      {"num_out_heads", &TrainConfig::num_out_heads},
      {"num_layers", &TrainConfig::num_layers},
      {"num_dec_layers", &TrainConfig::num_dec_layers},
      {"encoder", &TrainConfig::encoder},
      {"decoder", &TrainConfig::decoder},
      {"activation", &TrainConfig::activation},
      {"in_drop", &TrainConfig::in_drop},
      {"attn_drop", &TrainConfig::attn_drop},
      {"negative_slope", &TrainConfig::negative_slope},
      {"norm", &TrainConfig::norm},
      {"residual", &TrainConfig::residual},
      {"zero_init_tokens", &TrainConfig::zero_init_tokens},
      {"mask_rate", &TrainConfig::mask_rate},
      {"remask_rate", &TrainConfig::remask_rate},
      {"remask_method", &TrainConfig::remask_method},
      {"num_remasking", &TrainConfig::num_remasking},
      {"loss_fn", &TrainConfig::loss_fn},
      {"alpha_l", &TrainConfig::alpha_l},
      {"lam", &TrainConfig::lam},
      {"use_reconstruction", &TrainConfig::use_reconstruction},
      {"use_latent", &TrainConfig::use_latent},
      {"replace_rate", &TrainConfig::replace_rate},
      {"drop_edge_rate", &TrainConfig::drop_edge_rate},
      {"batch_size", &TrainConfig::batch_size},
      {"batch_size_f", &TrainConfig::batch_size_f},
      {"momentum", &TrainConfig::momentum},
      {"delayed_ema_epoch", &TrainConfig::delayed_ema_epoch},
      {"momentum_schedule", &TrainConfig::momentum_schedule},
      {"lr_f", &TrainConfig::lr_f},
      {"weight_decay_f", &TrainConfig::weight_decay_f},
      {"max_epoch_f", &TrainConfig::max_epoch_f},
      {"linear_prob", &TrainConfig::linear_prob},
      {"feature_norm", &TrainConfig::feature_norm},
      {"save_every", &TrainConfig::save_every},
      {"diag_every", &TrainConfig::diag_every},
      {"num_threads", &TrainConfig::num_threads},
  };
  return table;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields()) {
    if (key == f.name) return &f;
  }
  return nullptr;
}

[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& what) {
  throw std::invalid_argument(where + ": key '" + key + "' " + what);
}

double parse_double(const std::string& where, const std::string& key, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE || !std::isfinite(d)) {
    bad(where, key, "expects a number, got '" + v + "'");
  }
  return d;
}

int64_t parse_int(const std::string& where, const std::string& key, const std::string& v) {
  errno = 0;
  char* end = nullptr;
  const long long i = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE) {
    bad(where, key, "expects an integer, got '" + v + "'");
  }
  return i;
}

bool parse_bool(const std::string& where, const std::string& key, const std::string& v) {
  std::string l = v;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "true" || l == "1" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "no" || l == "off") return false;
  bad(where, key, "expects true or false, got '" + v + "'");
}

std::string format_value(const TrainConfig& cfg, const Member& m) {
  std::ostringstream os;
  std::visit(
      [&](auto ptr) {
        using T = std::decay_t<decltype(cfg.*ptr)>;
        if constexpr (std::is_same_v<T, bool>) {
          os << ((cfg.*ptr) ? "true" : "false");
        } else if constexpr (std::is_same_v<T, double>) {
          os.precision(17);
          os << (cfg.*ptr);
        } else {
          os << (cfg.*ptr);
        }
      },
      m);
  return os.str();
}

void require(bool ok, const std::string& key, const std::string& value, const std::string& expected) {
  if (!ok) throw std::invalid_argument("config: " + key + " = " + value + " is out of range (expected " + expected + ")");
}

}  // namespace

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& f : fields()) k.emplace_back(f.name);
    return k;
  }();
  return keys;
}

bool is_config_key(const std::string& key) { return find_field(key) != nullptr; }

bool is_bool_key(const std::string& key) {
  const Field* f = find_field(key);
  return f && std::holds_alternative<bool TrainConfig::*>(f->member);
}

void set_config_value(TrainConfig& cfg, const std::string& key, const std::string& value, const std::string& where) {
  const Field* f = find_field(key);
  if (!f) bad(where, key, "is not a known key (see configs/README or --help)");
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

namespace {

std::vector<std::string> apply_config_node(TrainConfig& cfg, const YAML::Node& root, const std::string& source) {
  if (root.IsNull()) return {};
  if (!root.IsMap()) throw std::invalid_argument("config '" + source + "' must be a map of key: value lines");
  std::vector<std::string> set;
  std::set<std::string> seen;
  for (const auto& item : root) {
    const std::string where = source + ":" + std::to_string(item.first.Mark().line + 1);
    if (!item.first.IsScalar()) throw std::invalid_argument(where + ": keys must be plain names");
    const auto key = item.first.Scalar();
    if (!seen.insert(key).second) bad(where, key, "is set twice in the file");
    if (!item.second.IsScalar() && !item.second.IsNull()) bad(where, key, "must have a single value");
    const std::string value = item.second.IsNull() ? "none" : item.second.Scalar();
    set_config_value(cfg, key, value, where);
    set.push_back(key);
  }
  return set;
}

}  // namespace

std::vector<std::string> apply_config_file(TrainConfig& cfg, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::invalid_argument("config file '" + path + "' cannot be opened");
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument("config file '" + path + "': " + e.what());
  }
  return apply_config_node(cfg, root, path);
}

std::vector<std::string> apply_config_text(TrainConfig& cfg, const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument("config '" + source + "': " + e.what());
  }
  return apply_config_node(cfg, root, source);
}

void apply_overrides(TrainConfig& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::set<std::string> seen;
  for (const auto& [key, value] : overrides) {
    if (!seen.insert(key).second) bad("command line", key, "is given twice");
    set_config_value(cfg, key, value, "command line --" + key);
  }
}

void TrainConfig::validate() const {
  auto s = [](auto v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  require(lr > 0, "lr", s(lr), "> 0");
  require(lr_f > 0, "lr_f", s(lr_f), "> 0");
  require(weight_decay >= 0, "weight_decay", s(weight_decay), ">= 0");
  require(weight_decay_f >= 0, "weight_decay_f", s(weight_decay_f), ">= 0");
  require(max_epoch >= 0, "max_epoch", s(max_epoch), ">= 0");
  require(max_epoch_f >= 1, "max_epoch_f", s(max_epoch_f), ">= 1");
  require(optimizer == "adam" || optimizer == "adamw", "optimizer", optimizer, "adam or adamw");
  require(max_grad_norm >= 0, "max_grad_norm", s(max_grad_norm), ">= 0");
  require(num_heads >= 1, "num_heads", s(num_heads), ">= 1");
  require(num_out_heads >= 1, "num_out_heads", s(num_out_heads), ">= 1");
  require(num_hidden >= 1 && num_hidden % num_heads == 0, "num_hidden", s(num_hidden),
          "a positive multiple of num_heads = " + s(num_heads));
  require(num_layers >= 1, "num_layers", s(num_layers), ">= 1");
  require(num_dec_layers >= 1, "num_dec_layers", s(num_dec_layers), ">= 1");
  require(encoder == "gat", "encoder", encoder, "gat");
  require(decoder == "gat", "decoder", decoder, "gat");
  require(activation == "prelu" || activation == "relu" || activation == "elu" || activation == "gelu" ||
              activation == "none",
          "activation", activation, "prelu, relu, elu, gelu or none");
  require(in_drop >= 0 && in_drop < 1, "in_drop", s(in_drop), "[0, 1)");
  require(attn_drop >= 0 && attn_drop < 1, "attn_drop", s(attn_drop), "[0, 1)");
  require(negative_slope >= 0, "negative_slope", s(negative_slope), ">= 0");
  require(norm == "none" || norm == "layernorm" || norm == "batchnorm", "norm", norm, "none, layernorm or batchnorm");
  require(zero_init_tokens == "auto" || zero_init_tokens == "true" || zero_init_tokens == "false", "zero_init_tokens",
          zero_init_tokens, "auto, true or false");
  require(mask_rate > 0 && mask_rate < 1, "mask_rate", s(mask_rate), "(0, 1)");
  require(remask_rate >= 0 && remask_rate < 1, "remask_rate", s(remask_rate), "[0, 1)");
  require(remask_method == "fixed" || remask_method == "random", "remask_method", remask_method, "fixed or random");
  require(num_remasking >= 1, "num_remasking", s(num_remasking), ">= 1");
  require(loss_fn == "sce" || loss_fn == "mse", "loss_fn", loss_fn, "sce or mse");
  require(alpha_l >= 1, "alpha_l", s(alpha_l), ">= 1");
  require(lam >= 0, "lam", s(lam), ">= 0");
  require(use_reconstruction || use_latent, "use_reconstruction", "false",
          "true, or use_latent true: at least one branch must train");
  require(replace_rate >= 0 && replace_rate < 1, "replace_rate", s(replace_rate), "[0, 1)");
  require(drop_edge_rate >= 0 && drop_edge_rate < 1, "drop_edge_rate", s(drop_edge_rate), "[0, 1)");
  require(batch_size >= 1, "batch_size", s(batch_size), ">= 1");
  require(batch_size_f >= 1, "batch_size_f", s(batch_size_f), ">= 1");
  require(momentum >= 0 && momentum <= 1, "momentum", s(momentum), "[0, 1]");
  require(delayed_ema_epoch >= 0, "delayed_ema_epoch", s(delayed_ema_epoch), ">= 0");
  require(momentum_schedule == "constant" || momentum_schedule == "cosine", "momentum_schedule", momentum_schedule,
          "constant or cosine");
  require(feature_norm == "auto" || feature_norm == "row" || feature_norm == "standard" || feature_norm == "none",
          "feature_norm", feature_norm, "auto, row, standard or none");
  require(save_every >= 0, "save_every", s(save_every), ">= 0");
  require(diag_every >= 0, "diag_every", s(diag_every), ">= 0");
  require(num_threads >= 0, "num_threads", s(num_threads), ">= 0");
}

std::string TrainConfig::to_yaml() const {
  std::ostringstream os;
  for (const auto& f : fields()) os << f.name << ": " << format_value(*this, f.member) << "\n";
  return os.str();
}

std::vector<int64_t> parse_seeds(const std::string& text) {
  std::vector<int64_t> seeds;
  std::stringstream ss(text);
  std::string part;
  auto to_int = [&](const std::string& s) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || v < 0) {
      throw std::invalid_argument("--seeds: '" + s + "' in '" + text + "' is not a non-negative integer");
    }
    return static_cast<int64_t>(v);
  };
  while (std::getline(ss, part, ',')) {
    const auto dash = part.find('-');
    if (dash == std::string::npos) {
      seeds.push_back(to_int(part));
    } else {
      const int64_t lo = to_int(part.substr(0, dash)), hi = to_int(part.substr(dash + 1));
      if (hi < lo) throw std::invalid_argument("--seeds: range '" + part + "' is empty");
      for (int64_t s = lo; s <= hi; ++s) seeds.push_back(s);
    }
  }
  if (seeds.empty()) throw std::invalid_argument("--seeds: no seed in '" + text + "'");
  std::set<int64_t> unique(seeds.begin(), seeds.end());
  if (unique.size() != seeds.size()) throw std::invalid_argument("--seeds: '" + text + "' repeats a seed");
  return seeds;
}

}  // namespace graphmae2::models::train
