#include "models/mocov3/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>
#include <stdexcept>
#include <variant>

namespace graphmae2::models::mocov3 {
namespace {

using Member = std::variant<double MoCoV3Config::*, int64_t MoCoV3Config::*, bool MoCoV3Config::*,
                            std::string MoCoV3Config::*>;
struct Field {
  const char* name;
  Member member;
};

const std::vector<Field>& fields() {
  using C = MoCoV3Config;
  static const std::vector<Field> table = {
      {"dataset", &C::dataset},
      {"data_root", &C::data_root},
      {"train_subset", &C::train_subset},
      {"vit_size", &C::vit_size},
      {"patch_size", &C::patch_size},
      {"embed_dim", &C::embed_dim},
      {"depth", &C::depth},
      {"num_heads", &C::num_heads},
      {"mlp_ratio", &C::mlp_ratio},
      {"pos_embed", &C::pos_embed},
      {"pooling", &C::pooling},
      {"stop_grad_conv1", &C::stop_grad_conv1},
      {"moco_dim", &C::moco_dim},
      {"moco_mlp_dim", &C::moco_mlp_dim},
      {"moco_t", &C::moco_t},
      {"moco_m", &C::moco_m},
      {"moco_m_cos", &C::moco_m_cos},
      {"epochs", &C::epochs},
      {"warmup_epochs", &C::warmup_epochs},
      {"batch_size", &C::batch_size},
      {"lr", &C::lr},
      {"weight_decay", &C::weight_decay},
      {"crop_min", &C::crop_min},
      {"jitter", &C::jitter},
      {"blur_sigma_max", &C::blur_sigma_max},
      {"solarize_prob", &C::solarize_prob},
      {"knn_every", &C::knn_every},
      {"knn_k", &C::knn_k},
      {"knn_t", &C::knn_t},
      {"knn_train", &C::knn_train},
      {"knn_test", &C::knn_test},
      {"spike_factor", &C::spike_factor},
      {"spike_window", &C::spike_window},
      {"probe_blocks", &C::probe_blocks},
      {"probe_train", &C::probe_train},
      {"probe_epochs", &C::probe_epochs},
      {"probe_lr", &C::probe_lr},
      {"probe_weight_decay", &C::probe_weight_decay},
      {"eval_batch", &C::eval_batch},
      {"mode", &C::mode},
      {"seed", &C::seed},
      {"threads", &C::threads},
      {"checkpoint_every", &C::checkpoint_every},
      {"max_steps", &C::max_steps},
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
  if (l == "true" || l == "yes" || l == "on" || l == "1") return true;
  if (l == "false" || l == "no" || l == "off" || l == "0") return false;
  bad(where, key, "expects true or false, got '" + v + "'");
}

std::string format_value(const MoCoV3Config& cfg, const Member& m) {
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
          os << '"' << (cfg.*ptr) << '"';  // quoted: keeps "none" or "1" a string when read back
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

template <typename T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

const std::vector<std::string>& mocov3_config_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& f : fields()) k.emplace_back(f.name);
    return k;
  }();
  return keys;
}

bool is_mocov3_bool_key(const std::string& key) {
  const Field* f = find_field(key);
  return f && std::holds_alternative<bool MoCoV3Config::*>(f->member);
}

void set_mocov3_config_value(MoCoV3Config& cfg, const std::string& key, const std::string& value,
                             const std::string& where) {
  const Field* f = find_field(key);
  if (!f) bad(where, key, "is not a known key (mocov3-train --help lists them)");
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

std::vector<std::string> apply_yaml_root(MoCoV3Config& cfg, const YAML::Node& root, const std::string& name) {
  if (root.IsNull()) return {};
  if (!root.IsMap()) throw std::invalid_argument("config file '" + name + "' must be a map of key: value lines");
  std::vector<std::string> set;
  std::set<std::string> seen;
  for (const auto& item : root) {
    const std::string where = name + ":" + std::to_string(item.first.Mark().line + 1);
    if (!item.first.IsScalar()) throw std::invalid_argument(where + ": keys must be plain names");
    const auto key = item.first.Scalar();
    if (!seen.insert(key).second) bad(where, key, "is set twice in the file");
    if (!item.second.IsScalar()) bad(where, key, "must have a single value");
    set_mocov3_config_value(cfg, key, item.second.Scalar(), where);
    set.push_back(key);
  }
  return set;
}

}  // namespace

std::vector<std::string> apply_mocov3_config_file(MoCoV3Config& cfg, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::invalid_argument("config file '" + path + "' cannot be opened");
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument("config file '" + path + "': " + e.what());
  }
  return apply_yaml_root(cfg, root, path);
}

MoCoV3Config mocov3_config_from_yaml_text(const std::string& text, const std::string& where) {
  MoCoV3Config cfg;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
  apply_yaml_root(cfg, root, where);
  return cfg;
}

void apply_mocov3_overrides(MoCoV3Config& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) {
  std::set<std::string> seen;
  for (const auto& [key, value] : overrides) {
    if (!seen.insert(key).second) bad("command line", key, "is given twice");
    set_mocov3_config_value(cfg, key, value, "command line --" + key);
  }
}

std::string MoCoV3Config::to_yaml() const {
  std::ostringstream os;
  for (const auto& f : fields()) os << f.name << ": " << format_value(*this, f.member) << "\n";
  return os.str();
}

std::vector<std::string> differing_keys(const MoCoV3Config& a, const MoCoV3Config& b,
                                        const std::vector<std::string>& ignore) {
  std::vector<std::string> out;
  for (const auto& f : fields()) {
    if (std::find(ignore.begin(), ignore.end(), f.name) != ignore.end()) continue;
    if (format_value(a, f.member) != format_value(b, f.member)) out.emplace_back(f.name);
  }
  return out;
}

void MoCoV3Config::validate() const {
  require(!dataset.empty(), "dataset", "\"\"", "a name");
  require(train_subset >= 0, "train_subset", str(train_subset), ">= 0");
  require(vit_size == "tiny" || vit_size == "small" || vit_size == "base" || vit_size == "mini", "vit_size", vit_size,
          "tiny, small, base or mini");
  require(patch_size >= 1, "patch_size", str(patch_size), ">= 1");
  require(embed_dim >= 0, "embed_dim", str(embed_dim), ">= 0 (0: the size's default)");
  require(depth >= 0, "depth", str(depth), ">= 0 (0: the size's default)");
  require(num_heads >= 0, "num_heads", str(num_heads), ">= 0 (0: the size's default)");
  require(mlp_ratio > 0, "mlp_ratio", str(mlp_ratio), "> 0");
  require(pos_embed == "sincos" || pos_embed == "learned" || pos_embed == "none", "pos_embed", pos_embed,
          "sincos, learned or none");
  require(pooling == "cls" || pooling == "avg", "pooling", pooling, "cls or avg");
  require(moco_dim >= 1, "moco_dim", str(moco_dim), ">= 1");
  require(moco_mlp_dim >= 1, "moco_mlp_dim", str(moco_mlp_dim), ">= 1");
  require(moco_t > 0, "moco_t", str(moco_t), "> 0");
  require(moco_m >= 0 && moco_m <= 1, "moco_m", str(moco_m), "[0, 1]");
  require(epochs >= 0, "epochs", str(epochs), ">= 0");
  require(warmup_epochs >= 0, "warmup_epochs", str(warmup_epochs), ">= 0");
  require(batch_size >= 2, "batch_size", str(batch_size), ">= 2 (a contrastive batch needs negatives)");
  require(lr > 0, "lr", str(lr), "> 0");
  require(weight_decay >= 0, "weight_decay", str(weight_decay), ">= 0");
  require(crop_min > 0 && crop_min <= 1, "crop_min", str(crop_min), "(0, 1]");
  require(jitter >= 0 && jitter < 1, "jitter", str(jitter), "[0, 1)");
  require(blur_sigma_max >= 0.1, "blur_sigma_max", str(blur_sigma_max), ">= 0.1");
  require(solarize_prob >= 0 && solarize_prob <= 1, "solarize_prob", str(solarize_prob), "[0, 1]");
  require(knn_every >= 0, "knn_every", str(knn_every), ">= 0");
  require(knn_k >= 1, "knn_k", str(knn_k), ">= 1");
  require(knn_t > 0, "knn_t", str(knn_t), "> 0");
  require(knn_train >= 1, "knn_train", str(knn_train), ">= 1");
  require(knn_test >= 1, "knn_test", str(knn_test), ">= 1");
  require(spike_factor > 1, "spike_factor", str(spike_factor), "> 1");
  require(spike_window >= 10, "spike_window", str(spike_window), ">= 10");
  require(probe_blocks >= 1, "probe_blocks", str(probe_blocks), ">= 1");
  require(probe_train >= 0, "probe_train", str(probe_train), ">= 0 (0: all)");
  require(probe_epochs >= 1, "probe_epochs", str(probe_epochs), ">= 1");
  require(probe_lr > 0, "probe_lr", str(probe_lr), "> 0");
  require(probe_weight_decay >= 0, "probe_weight_decay", str(probe_weight_decay), ">= 0");
  require(eval_batch >= 1, "eval_batch", str(eval_batch), ">= 1");
  require(mode == "train" || mode == "raw-pixels", "mode", mode, "train or raw-pixels");
  require(seed >= 0, "seed", str(seed), ">= 0");
  require(threads >= 0, "threads", str(threads), ">= 0");
  require(checkpoint_every >= 0, "checkpoint_every", str(checkpoint_every), ">= 0");
  require(max_steps >= 0, "max_steps", str(max_steps), ">= 0");
}

MoCoV3Options MoCoV3Config::model_options(int64_t image_size, int64_t in_channels) const {
  auto vit = vit::vit_options(vit_size, image_size, patch_size, in_channels);
  if (embed_dim > 0) vit.embed_dim(embed_dim);
  if (depth > 0) vit.depth(depth);
  if (num_heads > 0) vit.num_heads(num_heads);
  vit.mlp_ratio(mlp_ratio)
      .pos_embed(vit::parse_pos_embed(pos_embed))
      .pooling(vit::parse_pooling(pooling))
      .frozen_patch_proj(stop_grad_conv1);
  vit.validate();
  require(probe_blocks <= vit.depth(), "probe_blocks", str(probe_blocks), "<= depth = " + str(vit.depth()));
  return MoCoV3Options().backbone(vit).dim(moco_dim).mlp_dim(moco_mlp_dim).temperature(moco_t);
}

}  // namespace graphmae2::models::mocov3
