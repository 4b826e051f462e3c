#include "models/train/config.h"

#include "models/train/config_schema.h"

#include <sstream>

namespace graphmae2::models::train {

namespace {

// Declaration order = order of the resolved YAML.
const ConfigSchema<TrainConfig>& schema() {
  static const ConfigSchema<TrainConfig> table({
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
      {"latent_loss", &TrainConfig::latent_loss},
      {"infonce_tau", &TrainConfig::infonce_tau},
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
      {"sparse_input", &TrainConfig::sparse_input},
      {"save_every", &TrainConfig::save_every},
      {"diag_every", &TrainConfig::diag_every},
      {"num_threads", &TrainConfig::num_threads},
  });
  return table;
}

}  // namespace

const std::vector<std::string>& config_keys() {
  static const std::vector<std::string> keys = schema().keys();
  return keys;
}

bool is_config_key(const std::string& key) { return schema().has(key); }

bool is_bool_key(const std::string& key) { return schema().is_bool(key); }

void set_config_value(TrainConfig& cfg, const std::string& key, const std::string& value, const std::string& where) {
  schema().set(cfg, key, value, where);
}

std::vector<std::string> apply_config_file(TrainConfig& cfg, const std::string& path) {
  return schema().apply_file(cfg, path);
}

std::vector<std::string> apply_config_text(TrainConfig& cfg, const std::string& text, const std::string& source) {
  return schema().apply_text(cfg, text, source);
}

void apply_overrides(TrainConfig& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) {
  schema().apply_overrides(cfg, overrides);
}

void TrainConfig::validate() const {
  auto s = [](auto v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  require_in_range(lr > 0, "lr", s(lr), "> 0");
  require_in_range(lr_f > 0, "lr_f", s(lr_f), "> 0");
  require_in_range(weight_decay >= 0, "weight_decay", s(weight_decay), ">= 0");
  require_in_range(weight_decay_f >= 0, "weight_decay_f", s(weight_decay_f), ">= 0");
  require_in_range(max_epoch >= 0, "max_epoch", s(max_epoch), ">= 0");
  require_in_range(max_epoch_f >= 1, "max_epoch_f", s(max_epoch_f), ">= 1");
  require_in_range(optimizer == "adam" || optimizer == "adamw", "optimizer", optimizer, "adam or adamw");
  require_in_range(max_grad_norm >= 0, "max_grad_norm", s(max_grad_norm), ">= 0");
  require_in_range(num_heads >= 1, "num_heads", s(num_heads), ">= 1");
  require_in_range(num_out_heads >= 1, "num_out_heads", s(num_out_heads), ">= 1");
  require_in_range(num_hidden >= 1 && num_hidden % num_heads == 0, "num_hidden", s(num_hidden),
          "a positive multiple of num_heads = " + s(num_heads));
  require_in_range(num_layers >= 1, "num_layers", s(num_layers), ">= 1");
  require_in_range(num_dec_layers >= 1, "num_dec_layers", s(num_dec_layers), ">= 1");
  require_in_range(encoder == "gat", "encoder", encoder, "gat");
  require_in_range(decoder == "gat", "decoder", decoder, "gat");
  require_in_range(activation == "prelu" || activation == "relu" || activation == "elu" || activation == "gelu" ||
              activation == "none",
          "activation", activation, "prelu, relu, elu, gelu or none");
  require_in_range(in_drop >= 0 && in_drop < 1, "in_drop", s(in_drop), "[0, 1)");
  require_in_range(attn_drop >= 0 && attn_drop < 1, "attn_drop", s(attn_drop), "[0, 1)");
  require_in_range(negative_slope >= 0, "negative_slope", s(negative_slope), ">= 0");
  require_in_range(norm == "none" || norm == "layernorm" || norm == "batchnorm", "norm", norm, "none, layernorm or batchnorm");
  require_in_range(zero_init_tokens == "auto" || zero_init_tokens == "true" || zero_init_tokens == "false", "zero_init_tokens",
          zero_init_tokens, "auto, true or false");
  require_in_range(mask_rate > 0 && mask_rate < 1, "mask_rate", s(mask_rate), "(0, 1)");
  require_in_range(remask_rate >= 0 && remask_rate < 1, "remask_rate", s(remask_rate), "[0, 1)");
  require_in_range(remask_method == "fixed" || remask_method == "random", "remask_method", remask_method, "fixed or random");
  require_in_range(num_remasking >= 1, "num_remasking", s(num_remasking), ">= 1");
  require_in_range(loss_fn == "sce" || loss_fn == "mse", "loss_fn", loss_fn, "sce or mse");
  require_in_range(alpha_l >= 1, "alpha_l", s(alpha_l), ">= 1");
  require_in_range(lam >= 0, "lam", s(lam), ">= 0");
  require_in_range(use_reconstruction || use_latent, "use_reconstruction", "false",
          "true, or use_latent true: at least one branch must train");
  require_in_range(latent_loss == "sce" || latent_loss == "infonce", "latent_loss", latent_loss, "sce or infonce");
  require_in_range(infonce_tau > 0, "infonce_tau", s(infonce_tau), "> 0");
  require_in_range(replace_rate >= 0 && replace_rate < 1, "replace_rate", s(replace_rate), "[0, 1)");
  require_in_range(drop_edge_rate >= 0 && drop_edge_rate < 1, "drop_edge_rate", s(drop_edge_rate), "[0, 1)");
  require_in_range(batch_size >= 1, "batch_size", s(batch_size), ">= 1");
  require_in_range(batch_size_f >= 1, "batch_size_f", s(batch_size_f), ">= 1");
  require_in_range(momentum >= 0 && momentum <= 1, "momentum", s(momentum), "[0, 1]");
  require_in_range(delayed_ema_epoch >= 0, "delayed_ema_epoch", s(delayed_ema_epoch), ">= 0");
  require_in_range(momentum_schedule == "constant" || momentum_schedule == "cosine", "momentum_schedule", momentum_schedule,
          "constant or cosine");
  require_in_range(feature_norm == "auto" || feature_norm == "row" || feature_norm == "standard" || feature_norm == "none",
          "feature_norm", feature_norm, "auto, row, standard or none");
  require_in_range(save_every >= 0, "save_every", s(save_every), ">= 0");
  require_in_range(diag_every >= 0, "diag_every", s(diag_every), ">= 0");
  require_in_range(num_threads >= 0, "num_threads", s(num_threads), ">= 0");
}

std::string TrainConfig::to_yaml() const { return schema().to_yaml(*this); }

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
