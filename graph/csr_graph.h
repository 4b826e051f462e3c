#pragma once
// CsrGraph: the one graph value type of graphmae2.

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace graphmae2::graph {

/// @brief A directed graph in compressed sparse row form: a small validated value of int64 tensors.
///
/// Row r holds the edges stored under r: `indices[indptr[r] .. indptr[r+1])`. Which direction a row means
/// is a convention of the user: message passing (GATConv) reads rows as *destinations* and `indices` as
/// their *sources* (i.e. the CSC of the edge list src -> dst); `reverse()` swaps the two.
/// A bipartite graph has num_rows != num_cols (graph::Block gives it the mini-batch meaning).
///
/// Host copies: validation (the validating constructor, validate()), from_edges, operator== and to(kCPU) copy
/// tensors to the host; the other members launch device work only (row_ids passes its output size).
struct CsrGraph {
  torch::Tensor indptr;                  ///< int64 [num_rows + 1], non-decreasing, indptr[0] = 0
  torch::Tensor indices;                 ///< int64 [num_edges], each in [0, num_cols)
  std::optional<torch::Tensor> weights;  ///< optional float [num_edges]
  int64_t num_cols = 0;

  CsrGraph() = default;
  /// Validates (throws c10::Error naming the bad value) unless `validate` is false. Validation copies indptr
  /// and indices to the host: pass false for graphs built on the device by code that guarantees the invariants.
  CsrGraph(torch::Tensor indptr, torch::Tensor indices, int64_t num_cols,
           std::optional<torch::Tensor> weights = std::nullopt, bool validate = true);

  int64_t num_rows() const { return indptr.defined() ? indptr.size(0) - 1 : 0; }
  int64_t num_edges() const { return indices.defined() ? indices.size(0) : 0; }
  /// Square graph: num_rows == num_cols.
  int64_t num_nodes() const { return num_rows(); }
  bool is_square() const { return num_rows() == num_cols; }

  /// Checks every invariant; throws c10::Error with the first violation (position and value). Copies indptr
  /// and indices to the host.
  void validate() const;
  /// Returns: int64 [num_edges], the row of each edge (the CSR expanded to COO).
  torch::Tensor row_ids() const;
  /// Returns: the same graph on `device` (indptr, indices, weights moved; not validated).
  CsrGraph to(const torch::Device& device) const;

  /// Builds a CSR from an edge list (rows[i] -> cols[i]) through Boost.Graph's compressed_sparse_row_graph.
  /// Edges keep their input order within a row (stable); duplicates are kept. Throws on ids out of range.
  /// Copies the edges to the host and returns a CPU graph.
  static CsrGraph from_edges(const torch::Tensor& rows, const torch::Tensor& cols, int64_t num_rows, int64_t num_cols,
                             std::optional<torch::Tensor> weights = std::nullopt);
  static CsrGraph from_edges(const torch::Tensor& rows, const torch::Tensor& cols, int64_t num_nodes) {
    return from_edges(rows, cols, num_nodes, num_nodes);
  }

  std::string summary() const;  ///< e.g. "CsrGraph(2708 x 2708, 10556 edges)"
};

/// Same sizes, indptr, indices and weights (compared on the host: copies both graphs there).
bool operator==(const CsrGraph& a, const CsrGraph& b);

/// Returns: int64 [counts.size(0) + 1], the CSR row pointer of rows holding `counts` entries (0, then the
/// running sum), on the device of `counts`.
torch::Tensor indptr_from_counts(const torch::Tensor& counts);

}  // namespace graphmae2::graph
