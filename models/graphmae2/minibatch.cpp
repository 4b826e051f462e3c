#include "models/graphmae2/minibatch.h"
#include "models/engine/seed_scope.h"

#include "graph/ops/neighbor_sample.h"
#include "graph/ops/sampling_common.h"
#include "graph/saint.h"
#include "graph/transforms.h"
#include "models/engine/grad_norm.h"
#include "models/engine/progress.h"
#include "models/layers/gat_conv.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

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
                                          const graph::EgoGraphs& egos, const torch::Tensor& which,
                                          double drop_edge_rate, bool sparse_input, at::Generator generator) {
  const auto chosen = egos.select(which);
  const auto batched = graph::batched_induced_subgraphs(graph, chosen.indptr, chosen.indices.to(torch::kLong));

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
  auto owned = build(step);
  if (options_.pin_memory) owned->batch.features = owned->batch.features.pin_memory();
  return owned;
}

std::unique_ptr<OwnedBatch> BatchSource::build(int64_t step) const {
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
    b.targets_lead = true;
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
    b.targets_lead = true;
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
  if (model->encoder->options.input_skip()) {
    // A second read of the features rather than keeping layer 0's projection of every node: that would be a
    // third [N, num_hidden] tensor beside h and next, the memory this inference exists to bound.
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto rows = torch::arange(begin, std::min(n, begin + batch_size), torch::kLong);
      h.narrow(0, begin, rows.size(0)) += model->encoder->project_input(features.gather(rows).to(device, torch::kFloat)).cpu();
    }
  }
  bar.finish();
  model->train(was_training);
  return h;
}

namespace {

// Positions in `egos` of the ego-graphs whose seed is in `mask`, in the ego file's order.
torch::Tensor egos_in(const graph::EgoGraphs& egos, const torch::Tensor& mask) {
  return mask.index_select(0, egos.seeds).nonzero().flatten();
}

// Accuracy of head(encoder(...)) at the seeds of the ego-graphs `which`, in batches of `batch_size`.
double ego_accuracy(layers::GATImpl& encoder, torch::nn::LinearImpl& head, const graph::CsrGraph& graph,
                    const datasets::FeatureStore& features, const graph::EgoGraphs& egos, const torch::Tensor& which,
                    const torch::Tensor& labels, int64_t batch_size, const torch::Device& device) {
  if (which.numel() == 0) return 0.0;
  torch::NoGradGuard no_grad;
  encoder.eval();
  head.eval();
  const auto unused = at::make_generator<at::CPUGeneratorImpl>(0);
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  for (int64_t begin = 0; begin < which.size(0); begin += batch_size) {
    const auto part = which.narrow(0, begin, std::min(batch_size, which.size(0) - begin));
    const auto b = make_lc_batch(graph, features, egos, part, 0.0, false, unused)->to(device);
    const auto logits = head.forward(encoder.forward(b->batch.graph, b->batch.features).index_select(0, b->batch.targets));
    const auto y = labels.index_select(0, egos.seeds.index_select(0, part)).to(device);
    correct += (logits.argmax(1) == y).sum();
  }
  return static_cast<double>(correct.item<int64_t>()) / static_cast<double>(which.size(0));
}

}  // namespace

eval::ProbeResult finetune_ego_graphs(const layers::GAT& encoder_in, const graph::CsrGraph& graph,
                                      const datasets::FeatureStore& features, const graph::EgoGraphs& egos,
                                      const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                                      const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                                      const eval::ProbeOptions& options, const torch::Device& device, bool progress) {
  TORCH_CHECK(num_classes >= 2, "finetune: num_classes must be >= 2, got ", num_classes);
  TORCH_CHECK(options.max_epoch >= 1, "finetune: max_epoch must be >= 1, got ", options.max_epoch);
  TORCH_CHECK(options.batch_size >= 1, "finetune: batch_size must be >= 1, got ", options.batch_size);
  const auto train = egos_in(egos, train_mask), val = egos_in(egos, val_mask), test = egos_in(egos, test_mask);
  const int64_t labelled = (train_mask | val_mask | test_mask).sum().item<int64_t>();
  TORCH_CHECK(train.size(0) + val.size(0) + test.size(0) >= labelled, "finetune: ",
              labelled - train.size(0) - val.size(0) - test.size(0), " train/valid/test nodes have no ego-graph");
  TORCH_CHECK(train.size(0) > 0, "finetune: no train node has an ego-graph");
  // The probe's draws are torch::manual_seed(seed)'s; the caller's generators are given back when it ends.
  const engine::SeedScope seeded(options.seed, device);
  auto encoder = std::dynamic_pointer_cast<layers::GATImpl>(encoder_in->clone());
  encoder->to(device);
  for (auto& p : encoder->parameters()) p.set_requires_grad(true);
  torch::nn::Linear head(encoder->output_dim(), num_classes);
  head->to(device);
  auto params = encoder->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(options.lr).weight_decay(options.weight_decay));
  const int64_t warmup = options.max_epoch / 10;
  const auto lr_factor = [&](int64_t epoch) {
    if (epoch < warmup) return static_cast<double>(epoch) / static_cast<double>(warmup);
    return 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(epoch - warmup) / static_cast<double>(options.max_epoch - warmup)));
  };
  const auto set_lr = [&](double lr) {
    for (auto& group : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  };
  const auto batch_generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  eval::ProbeResult result;
  std::shared_ptr<layers::GATImpl> best_encoder;
  std::shared_ptr<torch::nn::Module> best_head;
  int64_t since_best = 0;
  engine::ProgressBar bar("fine-tune", options.max_epoch, progress, 0);
  for (int64_t epoch = 1; epoch < options.max_epoch && since_best < 10; ++epoch) {
    set_lr(options.lr * lr_factor(epoch));
    encoder->train();
    head->train();
    const auto order = train.index_select(0, torch::randperm(train.size(0), batch_generator, torch::kLong));
    const auto unused = at::make_generator<at::CPUGeneratorImpl>(0);
    for (int64_t begin = 0; begin < order.size(0); begin += options.batch_size) {
      const auto part = order.narrow(0, begin, std::min(options.batch_size, order.size(0) - begin));
      const auto b = make_lc_batch(graph, features, egos, part, 0.0, false, unused)->to(device);
      const auto logits = head(encoder->forward(b->batch.graph, b->batch.features).index_select(0, b->batch.targets));
      const auto y = labels.index_select(0, egos.seeds.index_select(0, part)).to(device);
      auto loss = torch::nn::functional::cross_entropy(logits, y);
      opt.zero_grad();
      loss.backward();
      engine::clip_grad_norm(params, 5.0);
      opt.step();
    }
    const double val_acc = ego_accuracy(*encoder, *head, graph, features, egos, val, labels, options.batch_size, device);
    // The reference keeps a strictly better validation accuracy (and counts the rest towards the early stop).
    if (result.best_epoch < 0 || val_acc > result.best_val_acc) {
      result.best_val_acc = val_acc;
      result.best_epoch = epoch;
      best_encoder = std::dynamic_pointer_cast<layers::GATImpl>(encoder->clone());
      best_head = head->clone();
      since_best = 0;
    } else {
      ++since_best;
    }
    bar.update(epoch + 1, "val " + std::to_string(val_acc));
    if (options.on_epoch) options.on_epoch(epoch);
  }
  bar.finish();
  if (best_encoder) {
    auto best_linear = std::dynamic_pointer_cast<torch::nn::LinearImpl>(best_head);
    result.test_acc = ego_accuracy(*best_encoder, *best_linear, graph, features, egos, test, labels, options.batch_size, device);
  }
  result.final_test_acc = ego_accuracy(*encoder, *head, graph, features, egos, test, labels, options.batch_size, device);
  return result;
}

}  // namespace graphmae2::models::graphmae2
