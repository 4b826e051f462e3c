#pragma once
// MoCo v3 run configuration: typed fields with defaults, read from a flat YAML map and from flags of the same
// name. Precedence: defaults < config file < flags. Unknown or duplicated keys and wrong types are errors.
// Knobs MoCo v3 shares with GraphMAE2 have GraphMAE2's names (max_epoch, num_threads, save_every, lr_f, ...);
// the old names still work and leave a deprecation note in MoCoV3Config::notes.

#include "models/eval/linear_probe.h"
#include "models/mocov3/mocov3.h"

#include <map>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::models::mocov3 {

/// The named ViT sizes of vit::vit_options.
enum class VitSize { tiny, small, base, mini };
/// How the EMA momentum moves: constant, or from `momentum` to 1 along a half cosine, per iteration.
enum class MomentumSchedule { constant, cosine };
/// What a run does: pre-train then probe (train), or probe the raw pixels only (raw-pixels, the baseline).
enum class RunMode { train, raw_pixels };

/// @brief Every key of a mocov3-train run. Names follow GraphMAE2's for the knobs both have, and the reference's
/// flags (main_moco.py) for the others.
struct MoCoV3Config {
  /// Where each key was last set ("file.yaml:3", "command line --lr"): range errors name it. Not a setting.
  std::map<std::string, std::string> key_origins;
  /// What reading the config noted for the user (an old key name): the program prints them; the library does
  /// not. Not a setting.
  std::vector<std::string> notes;
  // data
  std::string dataset = "fashion-mnist";  ///< name printed in the result line
  std::string data_root;     ///< folder with {train,t10k}-*-ubyte[.gz] (mocov3-train defaults it to Debian's package)
  int64_t train_subset = 0;  ///< pre-train on the first N training images only (0: all); probes use all
  // backbone
  VitSize vit_size = VitSize::mini;  ///< see vit::vit_options
  int64_t patch_size = 7;
  int64_t embed_dim = 0;  ///< 0: the size's default; likewise depth and num_heads
  int64_t depth = 0;
  int64_t num_heads = 0;
  double mlp_ratio = 4.0;
  vit::PosEmbedKind pos_embed = vit::PosEmbedKind::kSinCos;
  vit::PoolingKind pooling = vit::PoolingKind::kClassToken;
  bool stop_grad_conv1 = false;  ///< frozen random patch projection (the reference's flag name)
  // MoCo v3
  int64_t moco_dim = 256;
  int64_t moco_mlp_dim = 1024;
  double moco_t = 0.2;
  double momentum = 0.99;                                         ///< the EMA momentum (the reference's moco_m)
  MomentumSchedule momentum_schedule = MomentumSchedule::cosine;  ///< the reference's moco_m_cos
  // optimisation (AdamW, linear warm-up then half-cosine decay, per iteration)
  int64_t max_epoch = 10;
  double warmup_epochs = 1.0;
  int64_t batch_size = 256;
  double lr = 1.5e-4;  ///< base learning rate; the one used is lr * batch_size / 256
  double weight_decay = 0.1;
  // augmentation (view 1 / view 2 as the reference; see datasets::mocov3_view1)
  double crop_min = 0.2;
  double jitter = 0.4;  ///< brightness and contrast strength
  double blur_sigma_max = 1.0;
  double solarize_prob = 0.2;  ///< of view 2
  // monitors
  int64_t knn_every = 1;  ///< kNN accuracy every N epochs (0: off)
  int64_t knn_k = 20;
  double knn_t = 0.07;
  int64_t knn_train = 10000;   ///< memory-bank size (first N training images)
  int64_t knn_test = 2000;     ///< queries (first N test images)
  double spike_factor = 10.0;  ///< a gradient norm above spike_factor x running median is a spike
  int64_t spike_window = 100;  ///< iterations in the running median
  // final evaluation
  int64_t probe_blocks = 1;    ///< linear probe on the pooled outputs of the last N blocks, concatenated
  int64_t probe_train = 0;     ///< train the probe on the first N training images (0: all); always tested on all
  int64_t max_epoch_f = 1000;  ///< the probe's full-batch Adam epochs (300 at lr 0.01 underfits 60k images)
  double lr_f = 0.05;          ///< the probe's learning rate
  double weight_decay_f = 0.0;
  int64_t eval_batch = 1000;
  // run
  RunMode mode = RunMode::train;
  int64_t seed = 0;
  /// torch intra-op threads (0: torch's default). 1 by default: on a shared 2-core machine two OpenMP threads
  /// spin at every barrier while the other core is busy.
  int64_t num_threads = 1;
  /// Also checkpoint every N iterations (0: at each epoch end only). Iterations, where GraphMAE2's save_every
  /// counts epochs: a MoCo v3 run checkpoints after every epoch anyway.
  int64_t save_every = 0;
  double save_every_minutes = 10;  ///< also checkpoint when this much wall time passed since the last (0: off)
  int64_t max_steps = 0;           ///< stop after N iterations (0: run all epochs); schedules keep their length

  /// Checks every key's range (declared in the schema) and the rules between keys; throws std::invalid_argument
  /// naming the key, the bad value, where it was set and what is allowed.
  void validate() const;
  /// The resolved configuration as YAML (every key, in declaration order).
  std::string to_yaml() const;
  /// The model these keys describe (image_size and in_channels come from the data).
  MoCoV3Options model_options(int64_t image_size, int64_t in_channels) const;
  /// The linear probe's options (lr_f, weight_decay_f, max_epoch_f, seed).
  eval::ProbeOptions probe_options() const;
};

/// Names of all keys, in declaration order.
const std::vector<std::string>& mocov3_config_keys();
/// True when `key` (or an old name of it) holds a bool (a bare `--key` flag then means true).
bool is_mocov3_bool_key(const std::string& key);
/// The keys that hold a bool.
const std::vector<std::string>& mocov3_bool_keys();
/// Every name a command line may use for a key: the keys and their old names; and those that take a bool.
/// For engine::CommandLine::config_keys.
const std::vector<std::string>& mocov3_flag_names();
const std::vector<std::string>& mocov3_bool_flag_names();
/// Keys a resumed run may change: they do not change what pre-training computes (marked in the schema).
const std::vector<std::string>& mocov3_keys_not_affecting_training();
/// The key table of the documentation (docs/config.md), in Markdown, generated from the schema.
std::string mocov3_key_table();
/// The name of a value as the config writes it ("mini", "raw-pixels", ...).
const char* to_string(VitSize size);
const char* to_string(RunMode mode);

/// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
void set_mocov3_config_value(MoCoV3Config& cfg, const std::string& key, const std::string& value,
                             const std::string& where);
/// Applies a YAML file holding a flat map. Unknown keys, keys set twice, non-scalar values and wrong types are
/// errors naming file:line and the key. Returns the keys set.
std::vector<std::string> apply_mocov3_config_file(MoCoV3Config& cfg, const std::string& path);
/// Applies `key -> value` pairs from flags with the same checks; a key given twice is an error.
void apply_mocov3_overrides(MoCoV3Config& cfg, const std::vector<std::pair<std::string, std::string>>& overrides);

/// Keys whose values differ between two configs (for resuming: a checkpoint only continues its own run).
/// `ignore` lists keys that may differ (e.g. num_threads).
std::vector<std::string> differing_keys(const MoCoV3Config& a, const MoCoV3Config& b,
                                        const std::vector<std::string>& ignore);
/// Parses YAML text produced by to_yaml() (as stored in a checkpoint); old key names are read as their new ones.
MoCoV3Config mocov3_config_from_yaml_text(const std::string& text, const std::string& where);

}  // namespace graphmae2::models::mocov3
