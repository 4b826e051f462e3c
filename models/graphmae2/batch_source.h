#pragma once
// Mini-batch GraphMAE2's pre-training batches (the reference's main_large.py): local-clustering ego-graphs,
// neighbour-sampled subgraphs or GraphSAINT subgraphs, built on the CPU, one interface for all three.

#include "datasets/feature_store.h"
#include "graph/csr_graph.h"
#include "graph/sampling/local_clustering.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/graphmae2.h"

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace graphmae2::models::graphmae2 {

/// @brief A batch and the storage its pointers refer to (the sparse features). Not copyable: the batch points
/// into it.
struct OwnedBatch {
  GraphMAE2Batch batch;
  std::optional<layers::SparseFeatures> sparse;

  OwnedBatch() = default;
  OwnedBatch(const OwnedBatch&) = delete;
  OwnedBatch& operator=(const OwnedBatch&) = delete;
  /// The same batch on `device` (pointers re-targeted); pinned features are copied without blocking the host.
  std::unique_ptr<OwnedBatch> to(const torch::Device& device) const;
};

/// @brief How batches are drawn from the prepared graph (self-loops once per node) and its features (resident or
/// on disk: each batch gathers its rows).
struct BatchSourceOptions {
  Sampler sampler = Sampler::lc;
  int64_t batch_size = 512;
  std::vector<int64_t> fanouts;  ///< neighbor: one fan-out per encoder layer (input layer first)
  double drop_edge_rate = 0.0;
  int64_t saint_walk_length = 2;
  bool sparse_input = false;  ///< give batches the non-zeros of their features (bag-of-words inputs)
  /// Gather each batch's features into pinned (page-locked) host memory, on the loader's threads, so the copy to a
  /// GPU is asynchronous (OwnedBatch::to). Needs a CUDA build; for training on a GPU.
  bool pin_memory = false;
  /// Several processes: each builds only its share of the global batch of a step, rank r taking the r-th of
  /// world_size near-equal parts of its ego-graphs or seeds (saint: of its roots). batch_size >= world_size.
  int rank = 0;
  int world_size = 1;
};

/// @brief "The batch of step s" of one pre-training run, whatever the sampler: batch(s) depends only on (seed, s),
/// so a resumed run draws the same batches and loader threads may build steps in any order, concurrently.
class StepBatches {
 public:
  virtual ~StepBatches() = default;
  /// Steps in one epoch.
  virtual int64_t steps_per_epoch() const = 0;
  /// Features per node (the model's input width).
  virtual int64_t feature_dim() const = 0;
  /// The batch of global step `step` (epoch = step / steps_per_epoch()), on the CPU. Thread-safe.
  virtual std::unique_ptr<OwnedBatch> batch(int64_t step) const = 0;
};

/// The sampler options.sampler names, drawing from `graph` and `features` with the run's `seed`:
/// - lc: steps_per_epoch = ceil(ego-graphs / batch_size). Each epoch shuffles the ego-graphs; a batch is
///   batch_size of them, each one's induced subgraph, batched block-diagonally (a node in two ego-graphs appears
///   twice); targets = the seeds' positions.
/// - neighbor: steps_per_epoch = ceil(nodes / batch_size); every node is a seed. A batch is batch_size shuffled
///   seeds with neighbours sampled with `fanouts` (graph::sampling::sample_blocks), as the union of the sampled
///   edges over the input nodes (one self-loop per node), seeds first and their positions the targets: every
///   encoder layer runs on that subgraph.
/// - saint: steps_per_epoch = ceil(nodes / (batch_size * (walk length + 1))). A batch is one random-walk
///   subgraph from batch_size roots; targets = all its nodes.
/// With drop_edge_rate > 0 every batch also holds two independently edge-dropped views (self-loops removed
/// before and added after) for the student and the teacher encoders; the decoder runs on the whole batch.
/// Throws naming a batch_size < 1 or larger than the seeds, lc without ego-graphs, neighbor without fan-outs,
/// or Sampler::full.
std::unique_ptr<StepBatches> make_step_batches(graph::CsrGraph graph, datasets::FeatureStore features,
                                               std::optional<graph::sampling::EgoGraphs> egos,
                                               const BatchSourceOptions& options, uint64_t seed);

/// @brief The pre-training batches of one seed: the StepBatches that options.sampler names
/// (make_step_batches), kept by value so a run can hold it as one object.
class BatchSource final : public StepBatches {
 public:
  BatchSource(graph::CsrGraph graph, datasets::FeatureStore features, std::optional<graph::sampling::EgoGraphs> egos,
              BatchSourceOptions options, uint64_t seed)
      : impl_(make_step_batches(std::move(graph), std::move(features), std::move(egos), options, seed)) {}
  int64_t steps_per_epoch() const override { return impl_->steps_per_epoch(); }
  int64_t feature_dim() const override { return impl_->feature_dim(); }
  std::unique_ptr<OwnedBatch> batch(int64_t step) const override { return impl_->batch(step); }

 private:
  std::unique_ptr<const StepBatches> impl_;
};

/// Builds one lc batch from the ego-graphs numbered `which` (int64) of `egos`, with the drop-edge views drawn from
/// `generator`. Exposed for tests and for ego-graph inference.
std::unique_ptr<OwnedBatch> make_lc_batch(const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                                          const graph::sampling::EgoGraphs& egos, const torch::Tensor& which,
                                          double drop_edge_rate, bool sparse_input, at::Generator generator);

}  // namespace graphmae2::models::graphmae2
