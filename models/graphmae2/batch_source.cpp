#include "models/graphmae2/batch_source.h"

#include "graph/sampling/batch.h"
#include "graph/sampling/common.h"
#include "graph/sampling/neighbor_sample.h"
#include "graph/sampling/saint.h"
#include "graph/transforms.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <map>
#include <mutex>

namespace graphmae2::models::graphmae2 {

namespace {

/// A CPU generator for (seed, purpose, index): batches depend on the step only, never on what ran before.
at::Generator generator_for(uint64_t seed, uint64_t purpose, int64_t index) {
  return at::make_generator<at::CPUGeneratorImpl>(
      graph::sampling::mix64(graph::sampling::mix64(seed ^ (purpose << 56)) + static_cast<uint64_t>(index)));
}

/// The seed of a sampler's own draws at `step` (the graph samplers take a seed, not a generator).
uint64_t sampler_seed(uint64_t seed, uint64_t purpose, int64_t step) {
  return graph::sampling::mix64(seed ^ (purpose << 56)) + static_cast<uint64_t>(step);
}

constexpr uint64_t kShufflePurpose = 1, kDropEdgePurpose = 2, kSaintPurpose = 3, kNeighborPurpose = 4;

/// The union of sampled blocks as one graph over the input nodes (block l's local ids are prefixes of
/// input_nodes' positions), each edge once, one self-loop per node.
graph::CsrGraph union_of_blocks(const graph::sampling::SampledBlocks& sample) {
  std::vector<torch::Tensor> rows, cols;
  for (const auto& block : sample.blocks) {
    rows.push_back(block.graph.row_ids());
    cols.push_back(block.graph.indices);
  }
  const int64_t n = sample.input_nodes.size(0);
  const auto g = graph::CsrGraph::from_edges(torch::cat(rows), torch::cat(cols), n, n);
  return graph::add_self_loops(graph::remove_self_loops(graph::deduplicate(g)));
}

/// GraphMAE2's drop_edge: self-loops removed, each other edge dropped with probability p, one self-loop added back.
graph::CsrGraph drop_edge_view(const graph::CsrGraph& g, double p, at::Generator generator) {
  return graph::add_self_loops(graph::drop_edges(graph::remove_self_loops(g), p, generator));
}

/// The student's and the teacher's edge-dropped views of the batch graph (none when rate is 0).
void add_drop_edge_views(GraphMAE2Batch& b, double rate, at::Generator generator) {
  if (rate <= 0) return;
  b.student_graph = drop_edge_view(b.graph, rate, generator);
  b.teacher_graph = drop_edge_view(b.graph, rate, generator);
}

void attach_sparse(OwnedBatch& owned, bool sparse_input) {
  if (sparse_input) {
    owned.sparse = layers::SparseFeatures::from_dense(owned.batch.features);
    owned.batch.sparse = &*owned.sparse;
  }
}

/// @brief What every sampler holds: the graph, its features, the options, the run's seed, and the epochs'
/// shuffled orders.
class SamplerBase : public StepBatches {
 public:
  SamplerBase(graph::CsrGraph graph, datasets::FeatureStore features, const BatchSourceOptions& options, uint64_t seed)
      : graph_(std::move(graph)), features_(std::move(features)), options_(options), seed_(seed) {
    TORCH_CHECK(options_.batch_size >= 1, "mini-batch: batch_size must be >= 1, got ", options_.batch_size);
    TORCH_CHECK(options_.world_size >= 1 && options_.rank >= 0 && options_.rank < options_.world_size,
                "mini-batch: rank ", options_.rank, " of ", options_.world_size);
    TORCH_CHECK(options_.batch_size >= options_.world_size, "mini-batch: batch_size ", options_.batch_size,
                " is smaller than the ", options_.world_size, " processes: every rank needs a share of each batch");
  }
  int64_t steps_per_epoch() const override { return steps_per_epoch_; }
  int64_t feature_dim() const override { return features_.dim(); }
  std::unique_ptr<OwnedBatch> batch(int64_t step) const override {
    auto owned = build(step);
    if (options_.pin_memory) owned->batch.features = owned->batch.features.pin_memory();
    return owned;
  }

 protected:
  virtual std::unique_ptr<OwnedBatch> build(int64_t step) const = 0;

  /// Positions [begin, end) of `count` items in epoch (step / steps_per_epoch)'s shuffled order, for the
  /// batch of `step`.
  torch::Tensor batch_positions(int64_t step, int64_t count) const {
    const int64_t epoch = step / steps_per_epoch_, index = step % steps_per_epoch_;
    const auto order = epoch_order(epoch, count);
    const int64_t begin = index * options_.batch_size;
    return rank_share(order.narrow(0, begin, std::min(options_.batch_size, count - begin)));
  }

  /// This rank's part of a step's global batch (all of it for one process).
  torch::Tensor rank_share(const torch::Tensor& global) const {
    if (options_.world_size == 1) return global;
    return global.tensor_split(options_.world_size)[options_.rank];
  }

  /// The drop-edge views and the sparse non-zeros of a batch whose graph, features and targets are set.
  std::unique_ptr<OwnedBatch> finish(std::unique_ptr<OwnedBatch> owned, int64_t step) const {
    add_drop_edge_views(owned->batch, options_.drop_edge_rate, generator_for(seed_, kDropEdgePurpose, step));
    attach_sparse(*owned, options_.sparse_input);
    return owned;
  }

  graph::CsrGraph graph_;
  datasets::FeatureStore features_;
  BatchSourceOptions options_;
  uint64_t seed_;
  int64_t steps_per_epoch_ = 1;

 private:
  /// The epoch's shuffled order, drawn once per epoch (not per step: O(seeds) each time) and shared by the
  /// loader's threads; the two latest epochs are kept, as workers may straddle an epoch boundary.
  torch::Tensor epoch_order(int64_t epoch, int64_t count) const {
    std::lock_guard<std::mutex> lock(order_mutex_);
    auto it = orders_.find(epoch);
    if (it != orders_.end()) return it->second;
    auto order = torch::randperm(count, generator_for(seed_, kShufflePurpose, epoch), torch::kLong);
    orders_.emplace(epoch, order);
    while (orders_.size() > 2) orders_.erase(orders_.begin());  // the oldest (may be this one: `order` is a copy)
    return order;
  }
  mutable std::mutex order_mutex_;
  mutable std::map<int64_t, torch::Tensor> orders_;
};

/// @brief lc: batches of the epoch's shuffled ego-graphs.
class LcBatches final : public SamplerBase {
 public:
  LcBatches(graph::CsrGraph graph, datasets::FeatureStore features, std::optional<graph::sampling::EgoGraphs> egos,
            const BatchSourceOptions& options, uint64_t seed)
      : SamplerBase(std::move(graph), std::move(features), options, seed) {
    TORCH_CHECK(egos.has_value() && egos->size() > 0, "mini-batch: the lc sampler needs ego-graphs");
    egos_ = std::move(*egos);
    TORCH_CHECK(options_.batch_size <= egos_.size(), "mini-batch: batch_size ", options_.batch_size,
                " is larger than the number of ego-graphs (", egos_.size(), " seeds)");
    steps_per_epoch_ = (egos_.size() + options_.batch_size - 1) / options_.batch_size;
  }

 private:
  std::unique_ptr<OwnedBatch> build(int64_t step) const override {
    return make_lc_batch(graph_, features_, egos_, batch_positions(step, egos_.size()), options_.drop_edge_rate,
                         options_.sparse_input, generator_for(seed_, kDropEdgePurpose, step));
  }
  graph::sampling::EgoGraphs egos_;
};

/// @brief neighbor: batches of the epoch's shuffled nodes and their sampled neighbourhoods.
class NeighborBatches final : public SamplerBase {
 public:
  NeighborBatches(graph::CsrGraph graph, datasets::FeatureStore features, const BatchSourceOptions& options,
                  uint64_t seed)
      : SamplerBase(std::move(graph), std::move(features), options, seed) {
    TORCH_CHECK(!options_.fanouts.empty(), "mini-batch: the neighbor sampler needs fanouts (one per encoder layer)");
    TORCH_CHECK(options_.batch_size <= graph_.num_nodes(), "mini-batch: batch_size ", options_.batch_size,
                " is larger than the graph's ", graph_.num_nodes(), " nodes");
    steps_per_epoch_ = (graph_.num_nodes() + options_.batch_size - 1) / options_.batch_size;
  }

 private:
  std::unique_ptr<OwnedBatch> build(int64_t step) const override {
    const auto seeds = batch_positions(step, graph_.num_nodes());
    const auto sample =
        graph::sampling::sample_blocks(graph_, seeds, options_.fanouts, sampler_seed(seed_, kNeighborPurpose, step));
    auto owned = std::make_unique<OwnedBatch>();
    auto& b = owned->batch;
    b.graph = union_of_blocks(sample);
    b.features = features_.gather(sample.input_nodes);
    b.targets = torch::arange(seeds.size(0), torch::kLong);
    b.targets_lead = true;
    return finish(std::move(owned), step);
  }
};

/// @brief saint: one random-walk subgraph per step.
class SaintBatches final : public SamplerBase {
 public:
  SaintBatches(graph::CsrGraph graph, datasets::FeatureStore features, const BatchSourceOptions& options, uint64_t seed)
      : SamplerBase(std::move(graph), std::move(features), options, seed) {
    const int64_t per_batch = options_.batch_size * (options_.saint_walk_length + 1);
    steps_per_epoch_ = std::max<int64_t>(1, (graph_.num_nodes() + per_batch - 1) / per_batch);
  }

 private:
  std::unique_ptr<OwnedBatch> build(int64_t step) const override {
    // Each rank walks from its share of the roots, with its own draws.
    const int64_t roots = rank_share(torch::arange(options_.batch_size)).size(0);
    const auto sample = graph::sampling::saint_random_walk_sample(
        graph_, roots, options_.saint_walk_length,
        sampler_seed(seed_, kSaintPurpose, step) + static_cast<uint64_t>(options_.rank) * 0x9E3779B97F4A7C15ULL);
    auto owned = std::make_unique<OwnedBatch>();
    auto& b = owned->batch;
    b.graph = sample.subgraph.graph;
    b.features = features_.gather(sample.subgraph.node_ids);
    b.targets = torch::arange(b.graph.num_nodes(), torch::kLong);
    b.targets_lead = true;
    return finish(std::move(owned), step);
  }
};

}  // namespace

std::unique_ptr<OwnedBatch> OwnedBatch::to(const torch::Device& device) const {
  auto out = std::make_unique<OwnedBatch>();
  out->batch.graph = batch.graph.to(device);
  if (batch.student_graph) out->batch.student_graph = batch.student_graph->to(device);
  if (batch.teacher_graph) out->batch.teacher_graph = batch.teacher_graph->to(device);
  // Pinned features (BatchSourceOptions::pin_memory) copy asynchronously, overlapping the previous step's compute.
  out->batch.features = batch.features.to(device, /*non_blocking=*/batch.features.is_pinned());
  out->batch.targets = batch.targets.to(device);
  out->batch.targets_lead = batch.targets_lead;
  if (sparse) {
    out->sparse = sparse->to(device);
    out->batch.sparse = &*out->sparse;
  }
  return out;
}

std::unique_ptr<OwnedBatch> make_lc_batch(const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                                          const graph::sampling::EgoGraphs& egos, const torch::Tensor& which,
                                          double drop_edge_rate, bool sparse_input, at::Generator generator) {
  const auto chosen = egos.select(which);
  const auto batched =
      graph::sampling::batched_induced_subgraphs(graph, chosen.indptr, chosen.indices.to(torch::kLong));

  auto owned = std::make_unique<OwnedBatch>();
  auto& b = owned->batch;
  b.graph = batched.graph;
  b.features = features.gather(batched.node_ids);
  b.targets = batched.node_offsets.narrow(0, 0, which.size(0));  // each ego-graph's first node: its seed
  add_drop_edge_views(b, drop_edge_rate, generator);
  attach_sparse(*owned, sparse_input);
  return owned;
}

std::unique_ptr<StepBatches> make_step_batches(graph::CsrGraph graph, datasets::FeatureStore features,
                                               std::optional<graph::sampling::EgoGraphs> egos,
                                               const BatchSourceOptions& options, uint64_t seed) {
  switch (options.sampler) {
    case Sampler::lc:
      return std::make_unique<LcBatches>(std::move(graph), std::move(features), std::move(egos), options, seed);
    case Sampler::neighbor:
      return std::make_unique<NeighborBatches>(std::move(graph), std::move(features), options, seed);
    case Sampler::saint:
      return std::make_unique<SaintBatches>(std::move(graph), std::move(features), options, seed);
    default:
      break;
  }
  TORCH_CHECK(false, "mini-batch: the full sampler takes no batches");
}

}  // namespace graphmae2::models::graphmae2
