#include "models/mocov3/config.h"

#include "models/engine/config_schema.h"

#include <sstream>
#include <stdexcept>

namespace graphmae2::models::mocov3 {
namespace {

using C = MoCoV3Config;
using engine::enum_field;
using engine::EnumNames;

const EnumNames<VitSize> kVitSizes{
    {VitSize::tiny, "tiny"}, {VitSize::small, "small"}, {VitSize::base, "base"}, {VitSize::mini, "mini"}};
// The names vit::parse_pos_embed and vit::parse_pooling accept.
const EnumNames<vit::PosEmbedKind> kPosEmbeds{{vit::PosEmbedKind::kSinCos, "sincos"},
                                              {vit::PosEmbedKind::kLearned, "learned"},
                                              {vit::PosEmbedKind::kNone, "none"}};
const EnumNames<vit::PoolingKind> kPoolings{{vit::PoolingKind::kClassToken, "cls"},
                                            {vit::PoolingKind::kAverage, "avg"}};
const EnumNames<MomentumSchedule> kSchedules{{MomentumSchedule::constant, "constant"},
                                             {MomentumSchedule::cosine, "cosine"}};
const EnumNames<RunMode> kModes{{RunMode::train, "train"}, {RunMode::raw_pixels, "raw-pixels"}};

// Declaration order = order of the resolved YAML. Each key's range sits beside it; keys marked unaffected may
// differ when a run resumes (they do not change what pre-training computes).
const engine::ConfigSchema<C>& schema() {
  using engine::above;
  using engine::at_least;
  using engine::closed;
  using engine::closed_open;
  using engine::open_closed;
  using Schema = engine::ConfigSchema<C>;
  constexpr auto kFree = engine::Training::unaffected;
  // Strings are quoted in the resolved YAML so that a value like "none" or "1" reads back as a string.
  static const Schema table(
      {
          {"dataset", &C::dataset, engine::not_empty("a name")},
          {"data_root", &C::data_root, {}, kFree},
          {"train_subset", &C::train_subset, at_least(0)},
          {"vit_size", enum_field(&C::vit_size, kVitSizes)},
          {"patch_size", &C::patch_size, at_least(1)},
          {"embed_dim", &C::embed_dim, at_least(0, "0: the size's default")},
          {"depth", &C::depth, at_least(0, "0: the size's default")},
          {"num_heads", &C::num_heads, at_least(0, "0: the size's default")},
          {"mlp_ratio", &C::mlp_ratio, above(0)},
          {"pos_embed", enum_field(&C::pos_embed, kPosEmbeds)},
          {"pooling", enum_field(&C::pooling, kPoolings)},
          {"stop_grad_conv1", &C::stop_grad_conv1},
          {"moco_dim", &C::moco_dim, at_least(1)},
          {"moco_mlp_dim", &C::moco_mlp_dim, at_least(1)},
          {"moco_t", &C::moco_t, above(0)},
          {"momentum", &C::momentum, closed(0, 1)},
          {"momentum_schedule", enum_field(&C::momentum_schedule, kSchedules)},
          {"max_epoch", &C::max_epoch, at_least(0)},
          {"warmup_epochs", &C::warmup_epochs, at_least(0)},
          {"batch_size", &C::batch_size, at_least(2, "a contrastive batch needs negatives")},
          {"lr", &C::lr, above(0)},
          {"weight_decay", &C::weight_decay, at_least(0)},
          {"crop_min", &C::crop_min, open_closed(0, 1)},
          {"jitter", &C::jitter, closed_open(0, 1)},
          {"blur_sigma_max", &C::blur_sigma_max, at_least(0.1)},
          {"solarize_prob", &C::solarize_prob, closed(0, 1)},
          {"knn_every", &C::knn_every, at_least(0), kFree},
          {"knn_k", &C::knn_k, at_least(1), kFree},
          {"knn_t", &C::knn_t, above(0), kFree},
          {"knn_train", &C::knn_train, at_least(1), kFree},
          {"knn_test", &C::knn_test, at_least(1), kFree},
          {"spike_factor", &C::spike_factor, above(1)},
          {"spike_window", &C::spike_window, at_least(10)},
          {"probe_blocks", &C::probe_blocks, at_least(1), kFree},
          {"probe_train", &C::probe_train, at_least(0, "0: all"), kFree},
          {"max_epoch_f", &C::max_epoch_f, at_least(1), kFree},
          {"lr_f", &C::lr_f, above(0), kFree},
          {"weight_decay_f", &C::weight_decay_f, at_least(0), kFree},
          {"eval_batch", &C::eval_batch, at_least(1), kFree},
          {"mode", enum_field(&C::mode, kModes)},
          {"seed", &C::seed, at_least(0)},
          {"num_threads", &C::num_threads, at_least(0), kFree},
          {"save_every", &C::save_every, at_least(0), kFree},
          {"save_every_minutes", &C::save_every_minutes, at_least(0), kFree},
          {"max_steps", &C::max_steps, at_least(0), kFree},
      },
      Schema::Strings::quoted,
      {
          Schema::renamed("epochs", "max_epoch"),
          Schema::renamed("threads", "num_threads"),
          Schema::renamed("checkpoint_every", "save_every"),
          Schema::renamed("probe_lr", "lr_f"),
          Schema::renamed("probe_weight_decay", "weight_decay_f"),
          Schema::renamed("probe_epochs", "max_epoch_f"),
          Schema::renamed("moco_m", "momentum"),
          Schema::bool_became("moco_m_cos", "momentum_schedule", "cosine", "constant"),
      });
  return table;
}

}  // namespace

const std::vector<std::string>& mocov3_config_keys() {
  static const std::vector<std::string> keys = schema().keys();
  return keys;
}

bool is_mocov3_bool_key(const std::string& key) { return schema().is_bool(key); }

const std::vector<std::string>& mocov3_bool_keys() {
  static const std::vector<std::string> keys = schema().bool_keys();
  return keys;
}

const std::vector<std::string>& mocov3_flag_names() {
  static const std::vector<std::string> keys = schema().flag_names();
  return keys;
}

const std::vector<std::string>& mocov3_bool_flag_names() {
  static const std::vector<std::string> keys = schema().bool_flag_names();
  return keys;
}

const std::vector<std::string>& mocov3_keys_not_affecting_training() {
  static const std::vector<std::string> keys = schema().keys_not_affecting_training();
  return keys;
}

std::string mocov3_key_table() { return schema().markdown(MoCoV3Config()); }

const char* to_string(VitSize size) { return engine::enum_name(kVitSizes, size); }
const char* to_string(RunMode mode) { return engine::enum_name(kModes, mode); }

eval::ProbeOptions MoCoV3Config::probe_options() const {
  return eval::ProbeOptions{lr_f, weight_decay_f, max_epoch_f, static_cast<uint64_t>(seed)};
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
  schema().apply_text(cfg, text, where, engine::ConfigSource::stored);
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

void MoCoV3Config::validate() const { schema().check_ranges(*this); }

MoCoV3Options MoCoV3Config::model_options(int64_t image_size, int64_t in_channels) const {
  auto vit = vit::vit_options(to_string(vit_size), image_size, patch_size, in_channels);
  if (embed_dim > 0) vit.embed_dim(embed_dim);
  if (depth > 0) vit.depth(depth);
  if (num_heads > 0) vit.num_heads(num_heads);
  vit.mlp_ratio(mlp_ratio).pos_embed(pos_embed).pooling(pooling).frozen_patch_proj(stop_grad_conv1);
  vit.validate();
  engine::require_in_range(probe_blocks <= vit.depth(), "probe_blocks", std::to_string(probe_blocks),
                           "<= depth = " + std::to_string(vit.depth()), key_origins);
  return MoCoV3Options().backbone(vit).dim(moco_dim).mlp_dim(moco_mlp_dim).temperature(moco_t);
}

}  // namespace graphmae2::models::mocov3
