#pragma once
// Mini-batch inference of a pre-trained GraphMAE2 encoder: the reference's ego-graph inference, and layer-wise
// full-neighbour inference for graphs whose whole-graph forward does not fit on the device.

#include "datasets/feature_store.h"
#include "graph/csr_graph.h"
#include "graph/sampling/local_clustering.h"
#include "models/graphmae2/graphmae2.h"

#include <torch/torch.h>

#include <cstdint>
#include <functional>

namespace graphmae2::models::graphmae2 {

/// The reference's ego-graph inference (linear_probing_minibatch): each seed's embedding is the student encoder's
/// output at the seed inside its own ego-graph (eval mode, no drop-edge), in batches of `batch_size` ego-graphs.
/// `on_rows(first, rows)` receives each batch's rows as they are computed (e.g. to write them to a file in chunks).
/// Returns: [egos.size(), num_hidden] on the CPU, row s for egos.seeds[s]. Copies each batch's rows to the host.
using EmbeddingRowsCallback = std::function<void(int64_t first_row, const torch::Tensor& rows)>;
torch::Tensor embed_ego_graphs(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                               const graph::sampling::EgoGraphs& egos, int64_t batch_size, bool sparse_input,
                               const torch::Device& device, const EmbeddingRowsCallback& on_rows = {},
                               bool progress = false);

/// Layer-wise full-neighbour inference: every node's student-encoder output (eval mode), computed one encoder
/// layer at a time over node batches of `batch_size` destinations (graph::select_rows blocks), so only two
/// layers' activations of the whole graph are held (on the CPU), never a whole-graph forward on the device.
/// The first layer gathers its input rows from `features` per batch (an on-disk store is never read whole).
/// Equals model->embed(graph, features) to float tolerance. Returns: [N, num_hidden] on the CPU.
torch::Tensor embed_layerwise(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                              int64_t batch_size, const torch::Device& device, bool progress = false);

}  // namespace graphmae2::models::graphmae2
