#pragma once
// What a run of a config trains and probes on, built the same way for training (run_experiment) and for a
// checkpoint's evaluation (probe_checkpoint).

#include "datasets/dataset.h"
#include "datasets/feature_store.h"
#include "models/engine/log.h"
#include "models/eval/linear_probe.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/batch_source.h"
#include "models/graphmae2/inference.h"
#include "models/graphmae2/trainer.h"

#include <filesystem>
#include <optional>

namespace graphmae2::models::graphmae2 {

/// Where a run's inputs come from besides the dataset.
struct RunInputsOptions {
  torch::Device device = torch::kCPU;  ///< where pre-training runs
  /// feature_storage disk: the features on disk; undefined: the dataset's own.
  datasets::FeatureStore features;
  std::filesystem::path out_dir;  ///< where an lc run's ego-graphs are cached (unless lc_file names a file)
  bool progress = true;
  engine::LogSink log;
};

/// @brief The prepared graph and features, the ego-graphs of an lc run, and the nodes that get an embedding
/// with their labels and masks. Refers to `cfg` and `data`, which must outlive it.
struct RunInputs {
  const GraphMAE2Config& cfg;
  const datasets::NodeDataset& data;
  torch::Device device;
  bool minibatch = false;
  PreparedGraph cpu_input, input;
  datasets::FeatureStore features;
  std::optional<graph::sampling::EgoGraphs> egos;
  BatchSourceOptions batch_options;
  torch::Tensor embedded_nodes, labels, train_mask, val_mask, test_mask;

  /// Copies the count of non-zero features and, for lc, the ego-graph coverage to the host once.
  RunInputs(const GraphMAE2Config& cfg, const datasets::NodeDataset& data, const RunInputsOptions& options);

  /// The embeddings of embedded_nodes, on the CPU, also passed to `on_rows` as they are produced.
  torch::Tensor embed_nodes(GraphMAE2& model, const EmbeddingRowsCallback& on_rows, bool progress) const;

  /// The run's probe of `model` with `popt`: a linear probe of `emb` (embed_nodes), or with linear_prob off a
  /// fine-tune (on ego-graphs for lc). The model is not changed (fine-tuning trains a copy).
  eval::ProbeResult probe(GraphMAE2& model, const torch::Tensor& emb, const eval::ProbeOptions& popt,
                          bool progress) const;

 private:
  void prepare_features(const RunInputsOptions& options);
  void load_ego_graphs(const RunInputsOptions& options);
  void set_batch_options(bool sparse_input);
  void select_embedded_nodes();
};

}  // namespace graphmae2::models::graphmae2
