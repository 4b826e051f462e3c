#pragma once
// GraphMAE2's configuration: one typed struct of every key, read from the reference's YAML keys and from
// flags of the same name (defaults < config file < flags), and the only place that turns keys into the
// model's, the losses' and the probe's options.

#include "models/eval/linear_probe.h"
#include "models/graphmae2/graphmae2.h"
#include "models/layers/activation.h"

#include <map>
#include <cstdint>
#include <string>
#include <vector>

namespace graphmae2::models::graphmae2 {

enum class OptimizerKind { adam, adamw };
enum class MomentumSchedule { constant, cosine };
/// How features are normalised before training: none, per row to sum 1 (Planetoid), per column to zero mean
/// and unit variance (ogbn-arxiv, ogbn-papers100M).
enum class FeatureNorm { none, row, standard };
/// How pre-training batches are made: the whole graph per step (full), batch_size local-clustering ego-graphs
/// batched block-diagonally (lc, the reference's large-graph path), neighbour-sampled subgraphs of batch_size
/// seeds (neighbor, with fanouts), or GraphSAINT random-walk subgraphs (saint).
enum class Sampler { full, lc, neighbor, saint };
/// How the feature matrix is kept in memory: float32, or float16 (half the memory; mini-batch samplers widen each
/// batch's rows to float32, so the model computes in float32).
enum class FeatureDtype { float32, float16 };
/// Where a mini-batch run keeps the feature matrix: in memory, or in the dataset's .h5 cache on disk, each batch
/// reading its rows (for graphs whose features exceed memory; the cache's dtype is used).
enum class FeatureStorage { memory, disk };
/// Float32 matrix products during pre-training, by LibTorch's names (at::Context::setFloat32MatmulPrecision):
/// highest (float32 throughout, the default), high (TF32 tensor cores on CUDA; the CPU stays float32), medium
/// (also bfloat16 products through oneDNN on CPUs LibTorch's check accepts: AVX-512 BW/VL/DQ or AVX-NE-CONVERT;
/// with AMX, 2-3x the float32 rate; an AVX2-only CPU keeps float32). Parameters, gradients and everything outside
/// the products stay float32; evaluation runs at highest.
enum class MatmulPrecision { highest, high, medium };
/// What a diagnostics collapse flag does: advise (print the warning and go on), stop (end the run with an error,
/// exit 4), retry (stop the seed at the flag and train it again from the start, once, with the measured remedy
/// GraphMAE2Config::collapse_remedy; both attempts are reported).
enum class OnCollapse { advise, stop, retry };

/// @brief Every key of a GraphMAE2 run. Names are the reference's (configs/*.yaml, utils.build_args).
struct GraphMAE2Config {
  /// Where each key was last set ("file.yaml:3", "command line --lr"): range errors name it. Not a setting.
  std::map<std::string, std::string> key_origins;
  /// What reading the config noted for the user (a removed key skipped in a stored config): the program prints
  /// them; the library does not. Not a setting.
  std::vector<std::string> notes;
  std::string dataset;  ///< the dataset it trains on (set by --dataset; recorded in every checkpoint)
  // optimisation
  double lr = 0.001;
  double weight_decay = 0.0;
  int64_t max_epoch = 500;
  OptimizerKind optimizer = OptimizerKind::adam;
  bool scheduler = false;      ///< cosine decay of lr per epoch: lr * (1 + cos(pi * epoch / max_epoch)) / 2
  double max_grad_norm = 0.0;  ///< clip the gradient norm (0: off; the reference clips only on large graphs)
  // encoder / decoder
  int64_t num_hidden = 512;
  int64_t num_heads = 4;
  int64_t num_out_heads = 1;
  int64_t num_layers = 2;
  int64_t num_dec_layers = 1;
  layers::Activation activation = layers::Activation::prelu;
  double in_drop = 0.2;
  double attn_drop = 0.1;
  double negative_slope = 0.2;
  layers::Norm norm = layers::Norm::none;
  bool residual = false;
  /// Add the encoder's layer-0 input projection to its output (a collapse remedy, docs/diagnostics.md).
  bool input_skip = false;
  /// GAT attention through the fused op (graph::gat_attention); false: the chain of torch ops it replaced.
  bool fused_attention = true;
  /// Mask tokens start at zero and encoder_to_decoder keeps PyTorch's default init (the reference does this for
  /// Cora, CiteSeer and PubMed); false: xavier-normal for all three.
  bool zero_init_tokens = false;
  // masking and losses
  double mask_rate = 0.5;
  double remask_rate = 0.5;
  RemaskMethod remask_method = RemaskMethod::random;
  int64_t num_remasking = 3;
  ReconstructionLoss loss_fn = ReconstructionLoss::sce;
  double alpha_l = 2.0;
  double lam = 1.0;
  bool use_reconstruction = true;
  bool use_latent = true;
  LatentLoss latent_loss = LatentLoss::sce;  ///< sce (reference) | infonce (MoCo v3's contrastive loss; O(N^2) memory)
  double infonce_tau = 0.2;
  /// VICReg's variance / covariance terms on the student's encoding, against collapse (docs/diagnostics.md; 0: off).
  double variance_reg = 0.0;
  double covariance_reg = 0.0;
  /// > 0 adds a linear self_decoder and this weight on the unmasked nodes' reconstruction of their own features.
  double self_reconstruction = 0.0;
  double drop_edge_rate = 0.0;  ///< mini-batch only (as in the reference's full-batch script, which ignores it)
  int64_t batch_size = 256;     ///< mini-batch pretraining (ogbn-* configs); full-batch ignores it
  int64_t batch_size_f = 128;   ///< mini-batch linear probe; full-batch ignores it
  /// Neighbour-sampling fan-out per encoder layer (-1: all neighbours); empty: no neighbour sampling.
  std::vector<int64_t> fanouts;
  Sampler sampler = Sampler::full;
  int64_t ego_size = 256;  ///< lc: nodes per ego-graph
  /// lc: the ego-graph file (graphmae2-data lc); "" = OUT/lc-ego<ego_size>.h5. Computed and cached when missing.
  std::string lc_file;
  int64_t saint_walk_length = 2;  ///< saint: steps per walk; batch_size walks (roots) per batch
  FeatureDtype feature_dtype = FeatureDtype::float32;
  FeatureStorage feature_storage = FeatureStorage::memory;
  /// Mini-batch: threads that build upcoming batches while the model trains (0: build each on the training thread).
  int64_t loader_workers = 1;
  /// Stop pre-training after this many optimiser steps in all (0: train max_epoch epochs). The schedules keep
  /// their full length, the checkpoint holds the run mid-way and --resume (with a larger max_steps, or 0)
  /// continues it exactly; the probe then runs on the model as it is. For budgets on graphs whose epoch is long.
  int64_t max_steps = 0;
  // EMA target
  double momentum = 0.996;
  int64_t delayed_ema_epoch = 0;
  MomentumSchedule momentum_schedule = MomentumSchedule::constant;  ///< cosine: m -> 1 over max_epoch
  // evaluation
  double lr_f = 0.01;
  double weight_decay_f = 0.0;
  int64_t max_epoch_f = 300;
  bool linear_prob = true;  ///< true: linear probe on frozen embeddings; false: fine-tune the encoder
  // data
  FeatureNorm feature_norm = FeatureNorm::none;
  /// Make the graph undirected (DGL's to_bidirected, as the reference does for the OGB graphs). Planetoid
  /// readers already return symmetric graphs: their configs say false, which keeps the file's edge order.
  bool symmetrize = true;
  /// Run the encoders' first projection on the non-zeros of the features when at most a quarter are non-zero
  /// (bag-of-words: Cora, CiteSeer, PubMed). The same model and dropout distribution, another random stream.
  bool sparse_input = true;
  // bookkeeping
  int64_t save_every = 0;          ///< checkpoint every N epochs (0: only at the end)
  double save_every_minutes = 10;  ///< also checkpoint when this much wall time passed since the last (0: off)
  int64_t diag_every = 20;         ///< diagnostics (effective rank, std, ...) every N epochs
  OnCollapse on_collapse = OnCollapse::advise;
  int64_t num_threads = 0;  ///< torch intra-op threads (0: torch's default)
  MatmulPrecision matmul_precision = MatmulPrecision::highest;

  /// Checks every key's range (declared in the schema) and the rules between keys; throws std::invalid_argument
  /// naming the key, the bad value, where it was set and what is allowed.
  void validate() const;
  /// The resolved configuration as YAML text (every key, in declaration order).
  std::string to_yaml() const;
  /// matmul_precision as LibTorch names it ("highest", "high", "medium").
  std::string matmul_precision_name() const;

  /// The model these keys describe for `in_dim` input features.
  GraphMAE2Options model_options(int64_t in_dim) const;
  /// The losses' options.
  LossOptions loss_options() const;
  /// The linear probe's (and fine-tune's) options, seeded with `seed`.
  eval::ProbeOptions probe_options(uint64_t seed) const;

  /// Names of all keys, in declaration order, and which of them hold a bool (a bare `--key` means true).
  static const std::vector<std::string>& keys();
  static const std::vector<std::string>& bool_keys();
  /// Every name a command line may use for a key: keys() and the removed keys (whose error says why they went);
  /// and those of them that hold a bool. For engine::CommandLine::config_keys.
  static const std::vector<std::string>& flag_names();
  static const std::vector<std::string>& bool_flag_names();
  /// Keys a resumed or evaluated run may change without changing what pre-training computes (marked in the
  /// schema).
  static const std::vector<std::string>& keys_not_affecting_training();
  /// The key table of the documentation (docs/config.md), in Markdown, generated from the schema.
  static std::string key_table();
  /// The keys on_collapse retry sets and their values: the remedy that measured best against collapse
  /// (docs/diagnostics.md).
  static const std::vector<std::pair<std::string, std::string>>& collapse_remedy();
  /// This config with collapse_remedy() applied (on_collapse becomes advise: a retry is not retried).
  /// `inputs_fixed`: the features cannot be normalised another way (a cache written normalised, features on
  /// disk), so feature_norm keeps its value.
  GraphMAE2Config with_collapse_remedy(bool inputs_fixed = false) const;

  /// Sets one key from text; throws std::invalid_argument naming `where`, the key and the value.
  void set(const std::string& key, const std::string& value, const std::string& where);
  /// Applies a YAML file (a flat map of the reference's keys; a list as [15, 10, 5]). Unknown keys, duplicated
  /// keys, non-scalar values and wrong types are errors naming file:line and the key. Returns the keys set.
  std::vector<std::string> apply_file(const std::string& path);
  /// The same for YAML text stored by a run (a checkpoint's or an embeddings file's config); `source` names it in
  /// errors. A key removed since that run is skipped with a note (in `notes`), so older runs still load.
  std::vector<std::string> apply_text(const std::string& text, const std::string& source);
  /// Applies `key -> value` overrides (from flags), with the same checks.
  void apply_overrides(const std::vector<std::pair<std::string, std::string>>& overrides);
  /// Keys whose values differ from `other`'s, except those in `ignore`.
  std::vector<std::string> differing_keys(const GraphMAE2Config& other, const std::vector<std::string>& ignore) const;
};

}  // namespace graphmae2::models::graphmae2
