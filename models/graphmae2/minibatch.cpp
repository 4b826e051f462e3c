#include "models/graphmae2/minibatch.h"

#include "models/engine/progress.h"

#include "graph/ops/neighbor_sample.h"
#include "graph/ops/sampling_common.h"
#include "graph/saint.h"
#include "graph/transforms.h"
#include "models/layers/gat_conv.h"

#include <ATen/CPUGeneratorImpl.h>

namespace graphmae2::models::graphmae2 {

namespace {

/// A CPU generator for (seed, purpose, index): batches depend on the step only, never on what ran before.
at::Generator generator_for(uint64_t seed, uint64_t purpose, int64_t index) {
  return at::make_generator<at::CPUGeneratorImpl>(
      graph::sampling::mix64(graph::sampling::mix64(seed ^ (purpose << 56)) + static_cast<uint64_t>(index)));
}

constexpr uint64_t kShufflePurpose = 1, kDropEdgePurpose = 2, kSaintPurpose = 3, kNeighborPurpose = 4;

/// The union of sampled blocks as one graph over the input nodes (block l's local ids are prefixes of
/// input_nodes' positions), each edge once, one self-loop per node.
graph::CsrGraph union_of_blocks(const graph::SampledBlocks& sample) {
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

}  // namespace

std::unique_ptr<OwnedBatch> OwnedBatch::to(const torch::Device& device) const {
  auto out = std::make_unique<OwnedBatch>();
  out->batch.graph = batch.graph.to(device);
  if (batch.student_graph) out->batch.student_graph = batch.student_graph->to(device);
  if (batch.teacher_graph) out->batch.teacher_graph = batch.teacher_graph->to(device);
  out->batch.features = batch.features.to(device);
  out->batch.targets = batch.targets.to(device);
  if (sparse) {
    out->sparse = sparse->to(device);
    out->batch.sparse = &*out->sparse;
  }
  return out;
}

std::unique_ptr<OwnedBatch> make_lc_batch(const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                                          const graph::EgoGraphs& egos, const torch::Tensor& which,
                                          double drop_edge_rate, bool sparse_input, at::Generator generator) {
  // The chosen ego-graphs as one node-set list.
  const auto starts = egos.indptr.index_select(0, which);
  const auto lengths = egos.indptr.index_select(0, which + 1) - starts;
  const auto set_indptr = torch::cat({torch::zeros({1}, torch::kLong), lengths.cumsum(0)});
  const int64_t total = set_indptr[-1].item<int64_t>();
  // Positions in egos.indices: starts[s] + (0 .. lengths[s]) for each chosen set.
  const auto set_of = torch::repeat_interleave(torch::arange(which.size(0), torch::kLong), lengths, 0, total);
  const auto within = torch::arange(total, torch::kLong) - set_indptr.index_select(0, set_of);
  const auto nodes = egos.indices.index_select(0, starts.index_select(0, set_of) + within);
  const auto batched = graph::batched_induced_subgraphs(graph, set_indptr, nodes);

  auto owned = std::make_unique<OwnedBatch>();
  auto& b = owned->batch;
  b.graph = batched.graph;
  b.features = features.gather(batched.node_ids);
  b.targets = batched.node_offsets.narrow(0, 0, which.size(0));  // each ego-graph's first node: its seed
  add_drop_edge_views(b, drop_edge_rate, generator);
  attach_sparse(*owned, sparse_input);
  return owned;
}

BatchSource::BatchSource(graph::CsrGraph graph, datasets::FeatureStore features, std::optional<graph::EgoGraphs> egos,
                         BatchSourceOptions options, uint64_t seed)
    : graph_(std::move(graph)), features_(std::move(features)), egos_(std::move(egos)), options_(options), seed_(seed) {
  TORCH_CHECK(options_.batch_size >= 1, "mini-batch: batch_size must be >= 1, got ", options_.batch_size);
  if (options_.sampler == Sampler::lc) {
    TORCH_CHECK(egos_.has_value() && egos_->size() > 0, "mini-batch: the lc sampler needs ego-graphs");
    TORCH_CHECK(options_.batch_size <= egos_->size(), "mini-batch: batch_size ", options_.batch_size,
                " is larger than the number of ego-graphs (", egos_->size(), " seeds)");
    steps_per_epoch_ = (egos_->size() + options_.batch_size - 1) / options_.batch_size;
  } else if (options_.sampler == Sampler::neighbor) {
    TORCH_CHECK(!options_.fanouts.empty(), "mini-batch: the neighbor sampler needs fanouts (one per encoder layer)");
    TORCH_CHECK(options_.batch_size <= graph_.num_nodes(), "mini-batch: batch_size ", options_.batch_size,
                " is larger than the graph's ", graph_.num_nodes(), " nodes");
    steps_per_epoch_ = (graph_.num_nodes() + options_.batch_size - 1) / options_.batch_size;
  } else if (options_.sampler == Sampler::saint) {
    const int64_t per_batch = options_.batch_size * (options_.saint_walk_length + 1);
    steps_per_epoch_ = std::max<int64_t>(1, (graph_.num_nodes() + per_batch - 1) / per_batch);
  } else {
    TORCH_CHECK(false, "mini-batch: the full sampler takes no batches");
  }
}

torch::Tensor BatchSource::epoch_order(int64_t epoch, int64_t count) const {
  std::lock_guard<std::mutex> lock(order_mutex_);
  auto it = orders_.find(epoch);
  if (it != orders_.end()) return it->second;
  auto order = torch::randperm(count, generator_for(seed_, kShufflePurpose, epoch), torch::kLong);
  orders_.emplace(epoch, order);
  while (orders_.size() > 2) orders_.erase(orders_.begin());  // the oldest (may be this one: `order` is a copy)
  return order;
}

std::unique_ptr<OwnedBatch> BatchSource::batch(int64_t step) const {
  const int64_t epoch = step / steps_per_epoch_, index = step % steps_per_epoch_;
  if (options_.sampler == Sampler::saint) {
    const auto sample = graph::saint_random_walk_sample(
        graph_, options_.batch_size, options_.saint_walk_length,
        graph::sampling::mix64(seed_ ^ (kSaintPurpose << 56)) + static_cast<uint64_t>(step));
    auto owned = std::make_unique<OwnedBatch>();
    auto& b = owned->batch;
    b.graph = sample.subgraph.graph;
    b.features = features_.gather(sample.subgraph.node_ids);
    b.targets = torch::arange(b.graph.num_nodes(), torch::kLong);
    add_drop_edge_views(b, options_.drop_edge_rate, generator_for(seed_, kDropEdgePurpose, step));
    attach_sparse(*owned, options_.sparse_input);
    return owned;
  }
  if (options_.sampler == Sampler::neighbor) {
    const int64_t n = graph_.num_nodes();
    const auto order = epoch_order(epoch, n);
    const int64_t begin = index * options_.batch_size;
    const auto seeds = order.narrow(0, begin, std::min(options_.batch_size, n - begin));
    const auto sample = graph::sample_blocks(graph_, seeds, options_.fanouts,
                                             graph::sampling::mix64(seed_ ^ (kNeighborPurpose << 56)) +
                                                 static_cast<uint64_t>(step));
    auto owned = std::make_unique<OwnedBatch>();
    auto& b = owned->batch;
    b.graph = union_of_blocks(sample);
    b.features = features_.gather(sample.input_nodes);
    b.targets = torch::arange(seeds.size(0), torch::kLong);
    add_drop_edge_views(b, options_.drop_edge_rate, generator_for(seed_, kDropEdgePurpose, step));
    attach_sparse(*owned, options_.sparse_input);
    return owned;
  }
  const auto order = epoch_order(epoch, egos_->size());
  const int64_t begin = index * options_.batch_size;
  const auto which = order.narrow(0, begin, std::min(options_.batch_size, egos_->size() - begin));
  return make_lc_batch(graph_, features_, *egos_, which, options_.drop_edge_rate, options_.sparse_input,
                       generator_for(seed_, kDropEdgePurpose, step));
}

torch::Tensor embed_ego_graphs(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                               const graph::EgoGraphs& egos, int64_t batch_size, bool sparse_input,
                               const torch::Device& device, const EmbeddingRowsCallback& on_rows, bool progress) {
  TORCH_CHECK(batch_size >= 1, "embed_ego_graphs: batch size must be >= 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> parts;
  const auto unused = at::make_generator<at::CPUGeneratorImpl>(0);
  engine::ProgressBar bar("ego-graph inference", egos.size(), progress, 0);
  for (int64_t begin = 0; begin < egos.size(); begin += batch_size) {
    const auto which = torch::arange(begin, std::min(egos.size(), begin + batch_size), torch::kLong);
    const auto cpu_batch = make_lc_batch(graph, features, egos, which, 0.0, sparse_input, unused);
    const auto b = cpu_batch->to(device);
    const auto& batch = b->batch;
    parts.push_back(model->embed(batch.graph, batch.features, batch.sparse).index_select(0, batch.targets).cpu());
    if (on_rows) on_rows(begin, parts.back());
    bar.update(begin + which.size(0), "");
  }
  bar.finish();
  model->train(was_training);
  return torch::cat(parts);
}

torch::Tensor embed_layerwise(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                              int64_t batch_size, const torch::Device& device, bool progress) {
  TORCH_CHECK(batch_size >= 1, "embed_layerwise: batch size must be >= 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = graph.num_nodes();
  TORCH_CHECK(features.num_rows() == n, "embed_layerwise: ", features.num_rows(), " feature rows for ", n, " nodes");
  torch::Tensor h;  // the previous layer's output; the first layer reads the feature store
  const int64_t num_layers = static_cast<int64_t>(model->encoder->layers->size());
  engine::ProgressBar bar("layer-wise inference", num_layers * ((n + batch_size - 1) / batch_size), progress, 0);
  int64_t done = 0;
  for (const auto& module : *model->encoder->layers) {
    auto layer = std::dynamic_pointer_cast<layers::GATConvImpl>(module);
    TORCH_CHECK(layer != nullptr, "embed_layerwise: the encoder holds a layer that is not a GATConv");
    torch::Tensor next;
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto rows = torch::arange(begin, std::min(n, begin + batch_size), torch::kLong);
      const auto block = graph::select_rows(graph, rows);
      const auto input = h.defined() ? h.index_select(0, block.src_ids) : features.gather(block.src_ids);
      const auto out = layer->forward(block.to(device), input.to(device, torch::kFloat)).cpu();
      if (!next.defined()) next = torch::empty({n, out.size(1)}, out.options());
      next.narrow(0, begin, rows.size(0)).copy_(out);
      bar.update(++done, "");
    }
    h = next;
  }
  bar.finish();
  model->train(was_training);
  return h;
}

}  // namespace graphmae2::models::graphmae2
