#pragma once
// Mini-batch GraphMAE2 (the reference's main_large.py): batches of local-clustering ego-graphs or GraphSAINT
// subgraphs built on the CPU, and the reference's ego-graph inference.

#include "datasets/feature_store.h"
#include "graph/batch.h"
#include "graph/ops/local_clustering.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/graphmae2.h"

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <optional>

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

/// @brief Where batches come from: the prepared graph (self-loops once per node), the features (resident or on
/// disk: each batch gathers its rows),
/// and, for lc, the ego-graphs of the pre-training seeds.
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
};

/// @brief Builds the pre-training batches of one seed: the batch of step s depends only on (seed, s), so a
/// resumed run draws the same batches.
class BatchSource {
 public:
  BatchSource(graph::CsrGraph graph, datasets::FeatureStore features, std::optional<graph::EgoGraphs> egos,
              BatchSourceOptions options, uint64_t seed);
  /// Steps in one epoch: ceil(seeds / batch_size) for lc and neighbor (neighbor: every node is a seed),
  /// ceil(nodes / (batch_size * (walk length + 1))) for saint.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  /// Features per node (the model's input width).
  int64_t feature_dim() const { return features_.dim(); }
  /// The batch of global step `step` (epoch = step / steps_per_epoch), on the CPU.
  /// lc: the epoch's shuffled seeds, batch_size of them; each ego-graph's induced subgraph, batched
  /// block-diagonally (a node in two ego-graphs appears twice); targets = the seeds' positions; with
  /// drop_edge_rate > 0, two independently edge-dropped views (self-loops removed before and added after) for
  /// the student and the teacher encoders, the decoder on the whole batch. saint: one random-walk subgraph,
  /// targets = all its nodes. neighbor: batch_size shuffled seeds, neighbours sampled with `fanouts`
  /// (graph::sample_blocks); the batch is the union of the sampled edges over the input nodes (one self-loop
  /// per node), the seeds first and their positions the targets: every encoder layer runs on that subgraph.
  std::unique_ptr<OwnedBatch> batch(int64_t step) const;

 private:
  std::unique_ptr<OwnedBatch> build(int64_t step) const;
  graph::CsrGraph graph_;
  datasets::FeatureStore features_;
  std::optional<graph::EgoGraphs> egos_;
  BatchSourceOptions options_;
  uint64_t seed_;
  int64_t steps_per_epoch_ = 1;

  /// The epoch's shuffled seed order, drawn once per epoch (not per step: O(seeds) each time) and shared by the
  /// loader's threads; the two latest epochs are kept, as workers may straddle an epoch boundary.
  torch::Tensor epoch_order(int64_t epoch, int64_t count) const;
  mutable std::mutex order_mutex_;
  mutable std::map<int64_t, torch::Tensor> orders_;
};

/// Builds one lc batch from the ego-graphs numbered `which` (int64) of `egos`, with the drop-edge views drawn from
/// `generator`. Exposed for tests.
std::unique_ptr<OwnedBatch> make_lc_batch(const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                                          const graph::EgoGraphs& egos, const torch::Tensor& which,
                                          double drop_edge_rate, bool sparse_input, at::Generator generator);

/// The reference's ego-graph inference (linear_probing_minibatch): each seed's embedding is the student encoder's
/// output at the seed inside its own ego-graph (eval mode, no drop-edge), in batches of `batch_size` ego-graphs.
/// `on_rows(first, rows)` receives each batch's rows as they are computed (e.g. to write them to a file in chunks).
/// Returns: [egos.size(), num_hidden] on the CPU, row s for egos.seeds[s]. Copies each batch's rows to the host.
using EmbeddingRowsCallback = std::function<void(int64_t first_row, const torch::Tensor& rows)>;
torch::Tensor embed_ego_graphs(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                               const graph::EgoGraphs& egos, int64_t batch_size, bool sparse_input,
                               const torch::Device& device, const EmbeddingRowsCallback& on_rows = {},
                               bool progress = false);

/// The reference's mini-batch fine-tune (models/finetune.py, finetune): a copy of `encoder` (the original is
/// untouched) and a new linear head, trained on batches of options.batch_size train seeds' ego-graphs (the
/// prediction at each seed), AdamW (options.lr, options.weight_decay), the lr warmed up over the first 10% of
/// options.max_epoch epochs and then cosine-decayed (epoch 0 only steps the schedule, as there), gradients
/// clipped at norm 5. After each epoch the validation accuracy is computed on the val seeds' ego-graphs; 10
/// epochs without a better one stop training. Returns the test accuracy of the best-validation model
/// (test_acc) and of the last epoch's (final_test_acc). labels and masks are per node of `graph`; every
/// train/val/test node must have an ego-graph in `egos`. Copies each batch's accuracy count to the host.
eval::ProbeResult finetune_ego_graphs(const layers::GAT& encoder, const graph::CsrGraph& graph,
                                      const datasets::FeatureStore& features, const graph::EgoGraphs& egos,
                                      const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                                      const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                                      const eval::ProbeOptions& options, const torch::Device& device, bool progress = false);

/// Layer-wise full-neighbour inference: every node's student-encoder output (eval mode), computed one encoder
/// layer at a time over node batches of `batch_size` destinations (graph::select_rows blocks), so only two
/// layers' activations of the whole graph are held (on the CPU), never a whole-graph forward on the device.
/// The first layer gathers its input rows from `features` per batch (an on-disk store is never read whole).
/// Equals model->embed(graph, features) to float tolerance. Returns: [N, num_hidden] on the CPU.
torch::Tensor embed_layerwise(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                              int64_t batch_size, const torch::Device& device, bool progress = false);

}  // namespace graphmae2::models::graphmae2
