#pragma once
// GraphMAE2 training configuration: typed fields with defaults, read from the reference's YAML keys and
// from flags of the same name. Precedence: defaults < config file < flags.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace graphmae2::models::train {

/// @brief Every key of a GraphMAE2 run. Names are the reference's (configs/*.yaml, utils.build_args).
struct TrainConfig {
  // optimisation
  double lr = 0.001;
  double weight_decay = 0.0;
  int64_t max_epoch = 500;
  std::string optimizer = "adam";  ///< adam | adamw
  bool scheduler = false;          ///< cosine decay of lr per epoch: lr * (1 + cos(pi * epoch / max_epoch)) / 2
  double max_grad_norm = 0.0;      ///< clip the gradient norm (0: off; the reference clips only on large graphs)
  // encoder / decoder
  int64_t num_hidden = 512;
  int64_t num_heads = 4;
  int64_t num_out_heads = 1;
  int64_t num_layers = 2;
  int64_t num_dec_layers = 1;
  std::string encoder = "gat";
  std::string decoder = "gat";
  std::string activation = "prelu";
  double in_drop = 0.2;
  double attn_drop = 0.1;
  double negative_slope = 0.2;
  std::string norm = "none";
  bool residual = false;
  std::string zero_init_tokens = "auto";  ///< auto (zero for cora/citeseer/pubmed, as the reference) | true | false
  // masking and losses
  double mask_rate = 0.5;
  double remask_rate = 0.5;
  std::string remask_method = "random";  ///< fixed | random
  int64_t num_remasking = 3;
  std::string loss_fn = "sce";  ///< sce | mse
  double alpha_l = 2.0;
  double lam = 1.0;
  bool use_reconstruction = true;
  bool use_latent = true;
  std::string latent_loss = "sce";  ///< sce (reference) | infonce (shared MoCo v3 contrastive loss; O(N^2) memory)
  double infonce_tau = 0.2;
  double replace_rate = 0.0;  ///< accepted for compatibility: has no effect in the reference either
  double drop_edge_rate = 0.0;  ///< mini-batch only (as in the reference's full-batch script, which ignores it)
  int64_t batch_size = 256;     ///< mini-batch pretraining (ogbn-* configs); full-batch ignores it
  int64_t batch_size_f = 128;   ///< mini-batch linear probe; full-batch ignores it
  // EMA target
  double momentum = 0.996;
  int64_t delayed_ema_epoch = 0;
  std::string momentum_schedule = "constant";  ///< constant | cosine (m -> 1 over max_epoch)
  // evaluation
  double lr_f = 0.01;
  double weight_decay_f = 0.0;
  int64_t max_epoch_f = 300;
  bool linear_prob = true;  ///< true: linear probe on frozen embeddings; false: fine-tune the encoder
  // data
  std::string feature_norm = "auto";  ///< auto (row for Planetoid, standard for ogbn-arxiv/papers) | row | standard | none
  /// Run the encoders' first projection on the non-zeros of the features when at most a quarter are non-zero
  /// (bag-of-words: Cora, CiteSeer, PubMed). The same model and dropout distribution, another random stream.
  bool sparse_input = true;
  // bookkeeping
  int64_t save_every = 0;  ///< checkpoint every N epochs (0: only at the end)
  int64_t diag_every = 20; ///< diagnostics (effective rank, std, ...) every N epochs
  int64_t num_threads = 0; ///< torch intra-op threads (0: torch's default)

  /// Checks every range and choice; throws std::invalid_argument naming the key and the bad value.
  void validate() const;
  /// The resolved configuration as YAML text (every key, sorted as declared).
  std::string to_yaml() const;
};

/// Names of all keys, in declaration order.
const std::vector<std::string>& config_keys();
/// True when `key` is a config key.
bool is_config_key(const std::string& key);
/// True when `key` holds a bool (so a bare `--key` flag means true).
bool is_bool_key(const std::string& key);

/// Sets one key from its text value; throws std::invalid_argument naming `where`, the key and the value.
void set_config_value(TrainConfig& cfg, const std::string& key, const std::string& value, const std::string& where);

/// Applies a YAML file (a flat map of the reference's keys). Unknown keys, duplicated keys, non-scalar
/// values and wrong types are errors naming file:line and the key. Returns the keys it set.
std::vector<std::string> apply_config_file(TrainConfig& cfg, const std::string& path);
/// The same for YAML text (e.g. the config stored in a checkpoint); `source` names it in errors.
std::vector<std::string> apply_config_text(TrainConfig& cfg, const std::string& text, const std::string& source);
/// Applies `key -> value` overrides (from flags), with the same checks.
void apply_overrides(TrainConfig& cfg, const std::vector<std::pair<std::string, std::string>>& overrides);

/// Parses a seed list: "0-9", "0,3,5", "7" or combinations ("0-2,5"). Throws on anything else.
std::vector<int64_t> parse_seeds(const std::string& text);

}  // namespace graphmae2::models::train
