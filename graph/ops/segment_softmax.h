#pragma once
// Softmax over the edges of each CSR row (GAT attention normalisation).

#include "graph/csr_graph.h"

#include <torch/torch.h>

namespace graphmae2::graph {

/// Softmax of `scores` within each row of `graph` (a row = one destination node's incoming edges).
/// scores: float/double [num_edges, H] in CSR edge order, on the graph's device.
/// Returns: a tensor of the same shape; rows without edges contribute nothing. Differentiable w.r.t. scores.
torch::Tensor segment_softmax(const torch::Tensor& scores, const CsrGraph& graph);

}  // namespace graphmae2::graph
