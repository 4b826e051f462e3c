#pragma once
// A GraphMAE2 experiment: pretrain over several seeds, embed, evaluate, and write everything under --out.

#include "datasets/dataset.h"
#include "datasets/feature_store.h"
#include "models/eval/linear_probe.h"
#include "models/graphmae2/config.h"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace graphmae2::models::graphmae2 {

struct ExperimentOptions {
  std::filesystem::path out_dir;
  std::vector<int64_t> seeds{0};
  bool resume = false;
  bool progress = true;
  /// false: pre-train only (checkpoints and metrics; no embeddings file, no probe; protocol "pre-training").
  bool evaluate = true;
  /// Where pre-training runs; embeddings come back to the CPU for the HDF5 file, diagnostics and the probe.
  torch::Device device = torch::kCPU;
  /// feature_storage disk: the features on disk (FeatureStore::open_h5, normalised as feature_norm says); `data`
  /// then carries no feature columns ([N, 0]). Undefined: the features are data.features.
  datasets::FeatureStore features;
};

/// The first attempt of a seed that on_collapse retry stopped at a collapse flag.
struct CollapsedAttempt {
  int64_t epoch = 0;                      ///< the epoch whose diagnostics raised the flag; training stopped there
  std::map<std::string, double> figures;  ///< that epoch's figures (losses, effective_rank, mean_cosine, ...)
  std::vector<std::string> warnings;      ///< the flags it raised
  std::filesystem::path dir;              ///< where its checkpoint and metrics were kept (seed<k>-collapsed)
  /// What the retry changed: "input_skip=true feature_norm=standard self_reconstruction=1".
  std::string remedy;
};

struct SeedOutcome {
  int64_t seed = 0;
  eval::ProbeResult probe;
  double train_seconds = 0;
  int64_t epochs_run = 0;
  std::string train_span;  ///< TrainResult::span(), for the summary lines
  std::vector<std::string> warnings;  ///< diagnostics flags raised during training
  /// Set when on_collapse retry restarted this seed: the stopped attempt (the figures above are the retry's).
  std::optional<CollapsedAttempt> collapsed_attempt;
};

struct ExperimentResult {
  std::string dataset;
  std::string protocol;  ///< "linear-probe", "fine-tune", or "pre-training" (not evaluated)
  std::vector<SeedOutcome> seeds;
  double mean = 0, std = 0;              ///< test accuracy (%) at the best validation epoch, over seeds
  double final_mean = 0, final_std = 0;  ///< test accuracy (%) after the last probe epoch
  /// "cora  linear-probe 84.3 ± 0.5 (10 seeds)", then for each retried seed "; seed 0 retried with
  /// input_skip=true feature_norm=standard self_reconstruction=1 after a collapse at epoch 0 (effective_rank 1.0,
  /// mean_cosine 0.9994)".
  std::string summary_line() const;
};

/// Thrown (after the metrics are written) when on_collapse is stop (--fail-on-collapse) and a collapse flag was
/// raised.
struct CollapseDetected : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The training config stored with an embeddings file (attribute `config`: the resolved config of the run that
/// wrote it, e.g. its probe settings lr_f, weight_decay_f, max_epoch_f and sampler), or nullopt for a file without
/// one (written by an older release or another tool).
std::optional<GraphMAE2Config> embeddings_config(const std::filesystem::path& file);

/// Runs every seed of `cfg` (whose `dataset` key names `data`): writes OUT/config.yaml (resolved), OUT/embeddings_seed<k>.h5, OUT/seed<k>/{checkpoint.pt,
/// metrics.jsonl}, OUT/metrics.jsonl (all seeds) and OUT/result.json; prints one line per seed.
/// With cfg.on_collapse retry, a seed whose diagnostics flag a collapse is stopped at that epoch, its folder kept
/// as OUT/seed<k>-collapsed (with collapse.json: the epoch, figures and flags) and trained again from the start
/// with cfg.with_collapse_remedy(), once; --resume continues a retried seed with the remedy.
/// The embeddings file holds the embedded nodes' ids (node_ids: every node, or for lc the ego-graph seeds) and,
/// row for row, their embeddings (written in chunks as inference produces them), labels and split masks, and as
/// attributes the dataset, the seed and the run's resolved config (embeddings_config).
ExperimentResult run_experiment(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                const ExperimentOptions& options);

/// Probes the checkpoint of a run of `cfg` (its stored config) the way the run itself probed: the same embedding
/// (the whole graph; layer-wise for neighbor/saint; each seed in its LC ego-graph for lc, read from lc_file or
/// options.out_dir, computed and cached there when missing) and the same probe (linear, or fine-tune with
/// linear_prob off), once per probe seed. Writes nothing else. `on_epoch(seed, epoch)`: after each probe epoch.
std::vector<eval::ProbeResult> probe_checkpoint(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                                const std::filesystem::path& checkpoint,
                                                const std::vector<int64_t>& probe_seeds, const ExperimentOptions& options,
                                                const std::function<void(int64_t seed, int64_t epoch)>& on_epoch = {});

/// Mean and population standard deviation (numpy's default), as the reference reports them.
std::pair<double, double> mean_std(const std::vector<double>& values);

}  // namespace graphmae2::models::graphmae2
