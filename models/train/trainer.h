#pragma once
// Full-batch GraphMAE2 training of one seed: masking, losses, EMA schedule, optimiser, checkpoints, metrics.

#include "datasets/dataset.h"
#include "models/graphmae2/graphmae2.h"
#include "models/train/config.h"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace graphmae2::models::train {

/// The model's inputs after the reference's preprocessing: features normalised as `feature_norm` says,
/// the graph made undirected (non-Planetoid graphs), self-loops removed and one added per node.
struct PreparedGraph {
  graph::CsrGraph graph;
  torch::Tensor features;
  /// The features' non-zeros, kept when `sparse_input` is on and at most kSparseInputDensity of them are
  /// non-zero; the model then projects them sparsely.
  std::optional<layers::SparseFeatures> sparse_features;
  const layers::SparseFeatures* sparse() const { return sparse_features ? &*sparse_features : nullptr; }
  /// The same inputs on `device` (graph, features and their non-zeros).
  PreparedGraph to(const torch::Device& device) const;
};
inline constexpr double kSparseInputDensity = 0.25;
PreparedGraph prepare_inputs(const datasets::NodeDataset& data, const TrainConfig& cfg);
/// Resolves feature_norm "auto" for a dataset name: row for Planetoid, standard for ogbn-arxiv/papers100M.
std::string resolve_feature_norm(const TrainConfig& cfg, const std::string& dataset_name);
/// Resolves zero_init_tokens "auto": true for cora, citeseer, pubmed (the reference's rule).
bool resolve_zero_init(const TrainConfig& cfg, const std::string& dataset_name);

/// Builds the model a config describes for `in_dim` input features.
graphmae2::GraphMAE2 build_model(const TrainConfig& cfg, int64_t in_dim, bool zero_init_tokens);

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
};

struct TrainResult {
  graphmae2::GraphMAE2 model{nullptr};
  int64_t epochs_run = 0;       ///< epochs trained in this call (0 when a finished checkpoint was loaded)
  double seconds = 0;           ///< wall time of those epochs
  std::map<std::string, double> last;  ///< figures of the last epoch
};

/// Thrown when a loss becomes NaN or infinite; the last good checkpoint is left in place.
struct TrainingDiverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Trains GraphMAE2 on one graph for cfg.max_epoch epochs from `seed` (seeds torch's CPU generator).
/// Bit-for-bit repeatable on the CPU for a fixed seed and thread count; --resume continues identically
/// (on CUDA the generator state is checkpointed too, but torch's atomic CUDA index_add/index_select
/// backward makes runs differ in the last bits).
TrainResult train_graphmae2(const TrainConfig& cfg, const PreparedGraph& input, bool zero_init_tokens, int64_t seed,
                            const TrainerOptions& options);

/// Embeddings of the student encoder on the unmasked graph, eval mode. Returns [N, num_hidden].
torch::Tensor embed(graphmae2::GraphMAE2& model, const PreparedGraph& input);

}  // namespace graphmae2::models::train
