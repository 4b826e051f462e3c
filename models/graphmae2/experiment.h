#pragma once
// A GraphMAE2 experiment: pretrain over several seeds, embed, evaluate, and write everything under --out.

#include "datasets/dataset.h"
#include "datasets/feature_store.h"
#include "models/engine/diagnostics.h"
#include "models/engine/distributed.h"
#include "models/engine/log.h"
#include "models/eval/linear_probe.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/results.h"

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
  /// Where the run's messages go (per-seed lines, ego-graph caching, retries; diagnostics flags as warnings).
  engine::LogSink log;
  /// The processes pre-training together (null: this one). Each rank builds and trains on its share of every
  /// mini-batch (`sampler: full` is refused with more than one rank); rank 0 alone writes the run's files and
  /// evaluates; the resolved config must be the same on every rank.
  std::shared_ptr<const engine::ProcessGroup> group;
};

/// @brief The dataset a run of `cfg` reads, as `load_run_dataset` found it.
struct RunDataset {
  datasets::NodeDataset data;
  /// feature_storage disk: the features in the cache (data then has no feature columns); else undefined.
  datasets::FeatureStore features;
  /// "cora (2708 nodes, 10556 edges, 1433 features, 7 classes)", and where the features are read from.
  std::string describe() const;
};

/// Loads cfg.dataset under `data_root` (`split`: an OGB split folder, or empty). With feature_storage disk the
/// dataset must be an .h5 cache: its graph, labels and splits are loaded and its features opened on disk,
/// normalised as feature_norm says. Throws std::invalid_argument for a dataset that cannot be used this way.
RunDataset load_run_dataset(const GraphMAE2Config& cfg, const std::filesystem::path& data_root,
                            const std::string& split);

/// Thrown (after the metrics are written) when on_collapse is stop (--fail-on-collapse) and a collapse flag was
/// raised (engine::CollapseDetected: tools exit 4).
using engine::CollapseDetected;

/// The training config stored with an embeddings file (attribute `config`: the resolved config of the run that
/// wrote it, e.g. its probe settings lr_f, weight_decay_f, max_epoch_f and sampler), or nullopt for a file without
/// one (written by an older release or another tool).
std::optional<GraphMAE2Config> embeddings_config(const std::filesystem::path& file);

/// Runs every seed of `cfg` (whose `dataset` key names `data`): writes OUT/config.yaml (resolved),
/// OUT/embeddings_seed<k>.h5, OUT/seed<k>/{checkpoint.pt, metrics.jsonl}, OUT/metrics.jsonl (all seeds) and
/// OUT/result.json; prints one line per seed. With cfg.on_collapse retry, a seed whose diagnostics flag a collapse is
/// stopped at that epoch, its folder kept as OUT/seed<k>-collapsed (with collapse.json: the epoch, figures and flags)
/// and trained again from the start with cfg.with_collapse_remedy(), once; --resume continues a retried seed with the
/// remedy. The embeddings file holds the embedded nodes' ids (node_ids: every node, or for lc the ego-graph seeds) and,
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
                                                const std::vector<int64_t>& probe_seeds,
                                                const ExperimentOptions& options,
                                                const std::function<void(int64_t seed, int64_t epoch)>& on_epoch = {});

}  // namespace graphmae2::models::graphmae2
