#include "models/mocov3/config.h"

#include "models/engine/config_schema.h"

#include <sstream>
#include <stdexcept>

namespace graphmae2::models::mocov3 {
namespace {

using engine::require_in_range;

const engine::ConfigSchema<MoCoV3Config>& schema() {
  using C = MoCoV3Config;
  // Strings are quoted in the resolved YAML so that a value like "none" or "1" reads back as a string.
  static const engine::ConfigSchema<MoCoV3Config> table(
      {
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
      },
      engine::ConfigSchema<MoCoV3Config>::Strings::quoted);
  return table;
}

template <typename T>
std::string str(const T& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

const std::vector<std::string>& mocov3_config_keys() {
  static const std::vector<std::string> keys = schema().keys();
  return keys;
}

bool is_mocov3_bool_key(const std::string& key) { return schema().is_bool(key); }

const std::vector<std::string>& mocov3_bool_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& key : schema().keys()) {
      if (schema().is_bool(key)) out.push_back(key);
    }
    return out;
  }();
  return keys;
}

eval::ProbeOptions MoCoV3Config::probe_options() const {
  return eval::ProbeOptions{probe_lr, probe_weight_decay, probe_epochs, static_cast<uint64_t>(seed)};
}

void set_mocov3_config_value(MoCoV3Config& cfg, const std::string& key, const std::string& value,
                             const std::string& where) {
  schema().set(cfg, key, value, where);
}

std::vector<std::string> apply_mocov3_config_file(MoCoV3Config& cfg, const std::string& path) {
  return schema().apply_file(cfg, path);
}

MoCoV3Config mocov3_config_from_yaml_text(const std::string& text, const std::string& where) {
  MoCoV3Config cfg;
  schema().apply_text(cfg, text, where);
  return cfg;
}

void apply_mocov3_overrides(MoCoV3Config& cfg, const std::vector<std::pair<std::string, std::string>>& overrides) {
  schema().apply_overrides(cfg, overrides);
}

std::string MoCoV3Config::to_yaml() const { return schema().to_yaml(*this); }

std::vector<std::string> differing_keys(const MoCoV3Config& a, const MoCoV3Config& b,
                                        const std::vector<std::string>& ignore) {
  return schema().differing_keys(a, b, ignore);
}

void MoCoV3Config::validate() const {
  const auto require_in_range = [this](bool ok, const std::string& key, const std::string& value,
                                       const std::string& expected) {
    engine::require_in_range(ok, key, value, expected, key_origins);
  };
  require_in_range(!dataset.empty(), "dataset", "\"\"", "a name");
  require_in_range(train_subset >= 0, "train_subset", str(train_subset), ">= 0");
  require_in_range(vit_size == "tiny" || vit_size == "small" || vit_size == "base" || vit_size == "mini", "vit_size", vit_size,
          "tiny, small, base or mini");
  require_in_range(patch_size >= 1, "patch_size", str(patch_size), ">= 1");
  require_in_range(embed_dim >= 0, "embed_dim", str(embed_dim), ">= 0 (0: the size's default)");
  require_in_range(depth >= 0, "depth", str(depth), ">= 0 (0: the size's default)");
  require_in_range(num_heads >= 0, "num_heads", str(num_heads), ">= 0 (0: the size's default)");
  require_in_range(mlp_ratio > 0, "mlp_ratio", str(mlp_ratio), "> 0");
  require_in_range(pos_embed == "sincos" || pos_embed == "learned" || pos_embed == "none", "pos_embed", pos_embed,
          "sincos, learned or none");
  require_in_range(pooling == "cls" || pooling == "avg", "pooling", pooling, "cls or avg");
  require_in_range(moco_dim >= 1, "moco_dim", str(moco_dim), ">= 1");
  require_in_range(moco_mlp_dim >= 1, "moco_mlp_dim", str(moco_mlp_dim), ">= 1");
  require_in_range(moco_t > 0, "moco_t", str(moco_t), "> 0");
  require_in_range(moco_m >= 0 && moco_m <= 1, "moco_m", str(moco_m), "[0, 1]");
  require_in_range(epochs >= 0, "epochs", str(epochs), ">= 0");
  require_in_range(warmup_epochs >= 0, "warmup_epochs", str(warmup_epochs), ">= 0");
  require_in_range(batch_size >= 2, "batch_size", str(batch_size), ">= 2 (a contrastive batch needs negatives)");
  require_in_range(lr > 0, "lr", str(lr), "> 0");
  require_in_range(weight_decay >= 0, "weight_decay", str(weight_decay), ">= 0");
  require_in_range(crop_min > 0 && crop_min <= 1, "crop_min", str(crop_min), "(0, 1]");
  require_in_range(jitter >= 0 && jitter < 1, "jitter", str(jitter), "[0, 1)");
  require_in_range(blur_sigma_max >= 0.1, "blur_sigma_max", str(blur_sigma_max), ">= 0.1");
  require_in_range(solarize_prob >= 0 && solarize_prob <= 1, "solarize_prob", str(solarize_prob), "[0, 1]");
  require_in_range(knn_every >= 0, "knn_every", str(knn_every), ">= 0");
  require_in_range(knn_k >= 1, "knn_k", str(knn_k), ">= 1");
  require_in_range(knn_t > 0, "knn_t", str(knn_t), "> 0");
  require_in_range(knn_train >= 1, "knn_train", str(knn_train), ">= 1");
  require_in_range(knn_test >= 1, "knn_test", str(knn_test), ">= 1");
  require_in_range(spike_factor > 1, "spike_factor", str(spike_factor), "> 1");
  require_in_range(spike_window >= 10, "spike_window", str(spike_window), ">= 10");
  require_in_range(probe_blocks >= 1, "probe_blocks", str(probe_blocks), ">= 1");
  require_in_range(probe_train >= 0, "probe_train", str(probe_train), ">= 0 (0: all)");
  require_in_range(probe_epochs >= 1, "probe_epochs", str(probe_epochs), ">= 1");
  require_in_range(probe_lr > 0, "probe_lr", str(probe_lr), "> 0");
  require_in_range(probe_weight_decay >= 0, "probe_weight_decay", str(probe_weight_decay), ">= 0");
  require_in_range(eval_batch >= 1, "eval_batch", str(eval_batch), ">= 1");
  require_in_range(mode == "train" || mode == "raw-pixels", "mode", mode, "train or raw-pixels");
  require_in_range(seed >= 0, "seed", str(seed), ">= 0");
  require_in_range(threads >= 0, "threads", str(threads), ">= 0");
  require_in_range(checkpoint_every >= 0, "checkpoint_every", str(checkpoint_every), ">= 0");
  require_in_range(max_steps >= 0, "max_steps", str(max_steps), ">= 0");
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
  require_in_range(probe_blocks <= vit.depth(), "probe_blocks", str(probe_blocks), "<= depth = " + str(vit.depth()));
  return MoCoV3Options().backbone(vit).dim(moco_dim).mlp_dim(moco_mlp_dim).temperature(moco_t);
}

}  // namespace graphmae2::models::mocov3
