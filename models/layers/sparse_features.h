#pragma once
// A node-feature matrix kept by its non-zeros, and the masked, dropped-out input projection GraphMAE2's first
// encoder layer computes on it. Bag-of-words features (Cora 1.3 %, CiteSeer 0.9 % non-zero) make the dense
// product mostly multiplications by zero: this form costs O(nnz * out) for the unmasked rows.

#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <vector>

namespace graphmae2::models::layers {

/// @brief Rows of a [num_nodes, num_features] matrix by their non-zeros: row r holds the feature ids
/// pattern.indices[pattern.indptr[r] .. pattern.indptr[r + 1]) with `values` in the same order.
struct SparseFeatures {
  graph::CsrGraph pattern;  ///< num_rows = nodes, num_cols = features
  torch::Tensor values;     ///< [nnz], the dtype of the dense matrix (the row of each: pattern.row_ids())

  /// Keeps the non-zeros of a 2-D float tensor (on its device).
  static SparseFeatures from_dense(const torch::Tensor& x);
  int64_t num_rows() const { return pattern.num_rows(); }
  int64_t num_features() const { return pattern.num_cols; }
  /// Fraction of entries that are non-zero.
  double density() const;
  torch::Tensor to_dense() const;
  /// The same matrix on `device`.
  SparseFeatures to(const torch::Device& device) const;
};

/// `linear(dropout(x'), weight)` without bias, where x' is `x` with the rows `token_nodes` replaced by
/// `token` ([1, num_features]; undefined or no nodes: no replacement), exactly what the dense path
/// `fc(dropout(replace_rows(x, token_nodes, token)))` computes, with the same dropout distribution (a
/// different random stream). weight: [out, num_features]. Returns [num_nodes, out]; differentiable w.r.t.
/// weight and token. The product is graph::csr_projection (graph/ops/csr_projection.h), the masked rows'
/// dropped tokens graph::token_rows_linear.
torch::Tensor masked_sparse_linear(const SparseFeatures& x, const torch::Tensor& weight,
                                   const torch::Tensor& token_nodes, const torch::Tensor& token, double dropout,
                                   bool training);

/// The same for several weights ([out_k, num_features] each) on one dropout draw: the projections of the same
/// dropped input (GraphMAE2's first layer: the features and, through the folded attention vectors, the logits).
/// One product over the weights side by side; the outputs are column views of its [num_nodes, sum of out_k] result
/// (rows strided by that sum, so not contiguous when there are several).
std::vector<torch::Tensor> masked_sparse_linear(const SparseFeatures& x, const std::vector<torch::Tensor>& weights,
                                                const torch::Tensor& token_nodes, const torch::Tensor& token,
                                                double dropout, bool training);

/// Stores the 2-D parameter `weight` ([out, F]) column-major (weight^T's rows contiguous), in place, values and
/// identity unchanged; no-op when it already is. masked_sparse_linear works on weight^T: with this layout it needs
/// no transposed copy per call, and the weight's gradient arrives in the parameter's own layout, so autograd stores
/// it without another copy. Optimizer state made earlier in the old layout is matched by engine::FusedAdam.
void store_transposed(torch::Tensor& weight);

}  // namespace graphmae2::models::layers
