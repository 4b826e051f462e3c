#pragma once
// MoCo v3 run configuration: typed fields with defaults, read from a flat YAML map and from flags of the same
// name. Precedence: defaults < config file < flags. Unknown or duplicated keys and wrong types are errors.

#include "models/eval/linear_probe.h"
#include "models/mocov3/mocov3.h"

#include <map>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace graphmae2::models::mocov3 {

/// @brief Every key of a mocov3-train run. Names follow the reference's flags (main_moco.py) where it has one.
struct MoCoV3Config {
  /// Where each key was last set ("file.yaml:3", "command line --lr"): range errors name it. Not a setting.
  std::map<std::string, std::string> key_origins;
  // data
  std::string dataset = "fashion-mnist";                       ///< name printed in the result line
  std::string data_root;  ///< folder with {train,t10k}-*-ubyte[.gz] (mocov3-train defaults it to Debian's package)
  int64_t train_subset = 0;  ///< pre-train on the first N training images only (0: all); probes use all
  // backbone
  std::string vit_size = "mini";  ///< tiny | small | base | mini (see vit_options)
  int64_t patch_size = 7;
  int64_t embed_dim = 0;  ///< 0: the size's default; likewise depth and num_heads
  int64_t depth = 0;
  int64_t num_heads = 0;
  double mlp_ratio = 4.0;
  std::string pos_embed = "sincos";  ///< sincos | learned | none
  std::string pooling = "cls";       ///< cls | avg
  bool stop_grad_conv1 = false;      ///< frozen random patch projection (the reference's flag name)
  // MoCo v3
  int64_t moco_dim = 256;
  int64_t moco_mlp_dim = 1024;
  double moco_t = 0.2;
  double moco_m = 0.99;
  bool moco_m_cos = true;  ///< momentum rises from moco_m to 1 along a half cosine, per iteration
  // optimisation (AdamW, linear warm-up then half-cosine decay, per iteration)
  int64_t epochs = 10;
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
  int64_t knn_train = 10000;  ///< memory-bank size (first N training images)
  int64_t knn_test = 2000;    ///< queries (first N test images)
  double spike_factor = 10.0;  ///< a gradient norm above spike_factor x running median is a spike
  int64_t spike_window = 100;  ///< iterations in the running median
  // final evaluation
  int64_t probe_blocks = 1;  ///< linear probe on the pooled outputs of the last N blocks, concatenated
  int64_t probe_train = 0;   ///< train the probe on the first N training images (0: all); always tested on all
  int64_t probe_epochs = 1000;  ///< full-batch Adam epochs (300 at lr 0.01 underfits 60k images: -1.5 points)
  double probe_lr = 0.05;
  double probe_weight_decay = 0.0;
  int64_t eval_batch = 1000;
  // run
  std::string mode = "train";  ///< train | raw-pixels (linear probe on pixels only, the baseline)
  int64_t seed = 0;
  /// torch intra-op threads (0: torch's default). 1 by default: on a shared 2-core machine two OpenMP threads
  /// spin at every barrier while the other core is busy, measured 8-20x slower than one thread.
  int64_t threads = 1;
  int64_t checkpoint_every = 0;  ///< also checkpoint every N iterations (0: at each epoch end only)
  int64_t max_steps = 0;         ///< stop after N iterations (0: run all epochs); schedules keep their length

  /// Checks ranges and choices; throws std::invalid_argument naming the key and the bad value.
  void validate() const;
  /// The resolved configuration as YAML (every key, in declaration order).
  std::string to_yaml() const;
  /// The model these keys describe (image_size and in_channels come from the data).
  MoCoV3Options model_options(int64_t image_size, int64_t in_channels) const;
  /// The linear probe's options (probe_lr, probe_weight_decay, probe_epochs, seed).
  eval::ProbeOptions probe_options() const;
};

/// Names of all keys, in declaration order.
const std::vector<std::string>& mocov3_config_keys();
/// True when `key` holds a bool (a bare `--key` flag then means true).
bool is_mocov3_bool_key(const std::string& key);
/// The keys that hold a bool.
const std::vector<std::string>& mocov3_bool_keys();

/// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
void set_mocov3_config_value(MoCoV3Config& cfg, const std::string& key, const std::string& value,
                             const std::string& where);
/// Applies a YAML file holding a flat map. Unknown keys, keys set twice, non-scalar values and wrong types are
/// errors naming file:line and the key. Returns the keys set.
std::vector<std::string> apply_mocov3_config_file(MoCoV3Config& cfg, const std::string& path);
/// Applies `key -> value` pairs from flags with the same checks; a key given twice is an error.
void apply_mocov3_overrides(MoCoV3Config& cfg, const std::vector<std::pair<std::string, std::string>>& overrides);

/// Keys whose values differ between two configs (for resuming: a checkpoint only continues its own run).
/// `ignore` lists keys that may differ (e.g. threads).
std::vector<std::string> differing_keys(const MoCoV3Config& a, const MoCoV3Config& b,
                                        const std::vector<std::string>& ignore);
/// Parses YAML text produced by to_yaml() (as stored in a checkpoint).
MoCoV3Config mocov3_config_from_yaml_text(const std::string& text, const std::string& where);

}  // namespace graphmae2::models::mocov3
