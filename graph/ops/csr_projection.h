#pragma once
// A sparse matrix given by a CSR pattern and its values, times a dense one: the projection of sparse node features
// (models/layers/sparse_features.h). On the CPU it is LibTorch's sparse CSR product, faster here than
// graph::spmm's gather of one weight row per non-zero (docs/performance.md).

#include "graph/csr_graph.h"

#include <torch/torch.h>

namespace graphmae2::graph {

/// out = A weight_t, where A is the [R, C] matrix whose row r holds values[e] at column pattern.indices[e] for e
/// in [pattern.indptr[r], pattern.indptr[r + 1]). values: [nnz] (nnz = pattern.num_edges()); weight_t: [C, out].
/// Returns: [R, out]; each entry sums its terms in pattern order. Differentiable w.r.t. weight_t (its gradient
/// A^T grad, from the transposed pattern built per backward: a copy of the pattern to the host and back where it
/// is not on the CPU) and, off the CPU product, w.r.t. values.
/// On the CPU, with float32/float64 values that need no gradient: LibTorch's sparse CSR product. Otherwise (CUDA
/// included, the model's path there): graph::spmm with one head.
/// Throws: a tensor undefined, shapes other than these, dtypes or devices that differ.
torch::Tensor csr_projection(const CsrGraph& pattern, const torch::Tensor& values, const torch::Tensor& weight_t);

}  // namespace graphmae2::graph
