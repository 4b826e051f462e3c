#pragma once
// Full-batch GraphMAE2 training of one seed on the engine's loop: the step (masks, losses), the EMA teachers,
// the figures it logs. Schedules, EMA timing, NaN stop, checkpoints and resume are the engine's.

#include "datasets/dataset.h"
#include "models/engine/loop.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/graphmae2.h"
#include "models/graphmae2/batch_source.h"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace graphmae2::models::graphmae2 {

/// The model's inputs after the reference's preprocessing: features normalised as `feature_norm` says, the
/// graph made undirected when `symmetrize` says so, self-loops removed and one added per node.
struct PreparedGraph {
  graph::CsrGraph graph;
  torch::Tensor features;
  /// The features' non-zeros, kept when `sparse_input` is on and at most kSparseInputDensity of them are
  /// non-zero; the model then projects them sparsely.
  std::optional<layers::SparseFeatures> sparse_features;
  const layers::SparseFeatures* sparse() const { return sparse_features ? &*sparse_features : nullptr; }
  /// The same inputs on `device` (graph, features and their non-zeros).
  PreparedGraph to(const torch::Device& device) const;
  /// The whole graph as one batch whose latent targets are all nodes.
  GraphMAE2Batch full_batch() const;
};
inline constexpr double kSparseInputDensity = 0.25;
/// Copies the count of non-zero features to the host once (to decide on sparse input).
PreparedGraph prepare_inputs(const datasets::NodeDataset& data, const GraphMAE2Config& cfg);
/// The graph part of prepare_inputs alone (for features kept on disk).
graph::CsrGraph prepare_graph(const datasets::NodeDataset& data, const GraphMAE2Config& cfg);
/// The normalisation `feature_norm` asks for, for a FeatureStore that normalises the rows it reads.
datasets::FeatureNormalization feature_normalization(const GraphMAE2Config& cfg);

/// Builds the model a config describes for `in_dim` input features.
GraphMAE2 build_model(const GraphMAE2Config& cfg, int64_t in_dim);

struct TrainerOptions {
  std::filesystem::path seed_dir;  ///< checkpoint.pt and metrics.jsonl go here
  bool resume = false;             ///< continue from seed_dir/checkpoint.pt when present
  bool progress = true;
  std::string label = "train";
  /// Where the model trains; the inputs must already be there (PreparedGraph::to).
  torch::Device device = torch::kCPU;
  /// Called after every epoch with its figures (loss terms, lr, ...) before they are logged; may add figures or throw.
  std::function<void(int64_t epoch, std::map<std::string, double>& figures)> on_epoch;
  /// Called every diag_every epochs with the student's embeddings (eval mode, no grad).
  std::function<void(int64_t epoch, const torch::Tensor& embeddings)> on_embeddings;
  /// Mini-batch pre-training: the batches of each step (null: the whole graph every step). Steps per epoch,
  /// the per-epoch lr and momentum schedules, the EMA delay and the checkpoint cadence follow its
  /// steps_per_epoch(); figures are logged once per epoch (its last step), the only host syncs of the loop.
  const StepBatches* batches = nullptr;
  /// Stop after this many steps in all (0: train to the end); the checkpoint then holds the run mid-way, and
  /// --resume continues it as if it had not stopped (the schedules keep their full length).
  int64_t max_steps = 0;
  /// With `batches`: the embeddings on_embeddings receives (e.g. ego-graph inference); empty: none.
  std::function<torch::Tensor(GraphMAE2& model)> embeddings;
  /// Where the run's messages go (a resume's starting point, a stop inside an epoch, peak GPU memory).
  engine::LogSink log;
  /// The processes training together (engine::LoopOptions::group); the batches must be this rank's shares.
  std::shared_ptr<const engine::ProcessGroup> group;
};

/// Throws std::invalid_argument when `data`'s features were normalised when its cache was written and cfg's
/// feature_norm would normalise them a second time (a silently different input that probes far worse,
/// docs/diagnostics.md). Called by run_experiment and prepare_inputs.
void check_normalized_once(const datasets::NodeDataset& data, const GraphMAE2Config& cfg);

/// Why the checkpoint `state` cannot continue a run of `cfg` ("" when it can): another dataset, or different values
/// of keys that change what pre-training computes (named; the others, GraphMAE2Config::keys_not_affecting_training,
/// may change).
std::string resume_mismatch(const GraphMAE2Config& cfg, const engine::CheckpointState& state,
                            bool after_divergence = false);

struct TrainResult {
  GraphMAE2 model{nullptr};
  int64_t epochs_run = 0;  ///< epochs trained in this call, a started one counted (0 when a finished
                           ///< checkpoint was loaded)
  int64_t steps_run = 0;   ///< optimisation steps in this call
  int64_t steps_per_epoch = 1;
  double seconds = 0;  ///< wall time of those steps
  /// "12.3 s for 200 epochs", or "358.6 s for 300 steps (0.06 epochs)" for a run stopped inside an epoch.
  std::string span() const;
  std::map<std::string, double> last;  ///< figures of the last epoch
};

/// Trains GraphMAE2 on one graph for cfg.max_epoch epochs from `seed`: its draws are those of
/// torch::manual_seed(seed), and torch's generators are given back to the caller as they were (SeedScope). With
/// options.batches, `input` is not read (its features may be empty: the batches carry theirs).
/// Bit-for-bit repeatable on the CPU for a fixed seed and thread count; --resume continues identically
/// (on CUDA the generator state is checkpointed too, but torch's atomic CUDA index_add/index_select
/// backward makes runs differ in the last bits). Throws engine::TrainingDiverged on a NaN loss.
/// Reads the loss terms and the gradient norm on the host once per epoch (the logged figures).
TrainResult train_graphmae2(const GraphMAE2Config& cfg, const PreparedGraph& input, int64_t seed,
                            const TrainerOptions& options);

/// Embeddings of the student encoder on the unmasked graph, eval mode. Returns [N, num_hidden].
torch::Tensor embed(GraphMAE2& model, const PreparedGraph& input);

}  // namespace graphmae2::models::graphmae2
