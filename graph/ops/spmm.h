#pragma once
// Weighted neighbour aggregation over a CSR graph (multi-head sparse x dense product).

#include "graph/csr_graph.h"

#include <torch/torch.h>

namespace graphmae2::graph {

/// out[r, h, :] = sum over edges e of row r of edge_weights[e, h] * x[indices[e], h, :].
/// edge_weights: float/double [num_edges, H] in CSR edge order; x: same dtype [num_cols, H, F].
/// Returns: [num_rows, H, F] (zeros for rows without edges). Differentiable w.r.t. edge_weights and x.
torch::Tensor spmm(const CsrGraph& graph, const torch::Tensor& edge_weights, const torch::Tensor& x);

}  // namespace graphmae2::graph
