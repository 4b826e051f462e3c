#pragma once
// Whole-graph transforms on CsrGraph (built on the CPU through CsrGraph::from_edges; results are returned on
// the input graph's device). Rows keep their meaning: a row lists the edges stored under that node.
//
// Host copies: symmetrize, deduplicate, remove_self_loops, add_self_loops, induced_subgraph, drop_edges and
// reverse copy the whole graph to the host and their result back to the graph's device. in_degrees runs on
// the device; out_degrees, select_rows and select_row_edges run on the device but read a few scalars on the host
// (sizes, checks).

#include "graph/block.h"
#include "graph/csr_graph.h"

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace graphmae2::graph {

/// Every edge in both directions, each (row, col) pair once, columns ascending within a row (DGL's
/// to_bidirected). A weighted graph keeps the weight of each pair's first occurrence, the original edges first.
/// Throws unless the graph is square.
CsrGraph symmetrize(const CsrGraph& graph);

/// Each (row, col) pair once, columns ascending within a row; weights of the first occurrence in CSR order.
CsrGraph deduplicate(const CsrGraph& graph);

/// The graph GraphMAE2's reference trains large graphs on (its `preprocess`): every edge in both directions
/// once, self-loops removed and exactly one added per node, columns ascending within a row (as scipy's CSR
/// holds them; local_clustering's queue order depends on it). Unweighted. Throws unless the graph is square.
CsrGraph bidirected_with_self_loops(const CsrGraph& graph);

/// Drops the edges r -> r; the other edges keep their order. Throws unless the graph is square.
CsrGraph remove_self_loops(const CsrGraph& graph);

/// Appends one edge r -> r at the end of every row (existing self-loops stay: call remove_self_loops first for
/// exactly one per node, as GraphMAE2 does). New edges get weight `fill` on a weighted graph. Square graphs only.
CsrGraph add_self_loops(const CsrGraph& graph, double fill = 1.0);

/// Returns: int64 [num_rows], the edges stored under each row; under the message-passing convention (rows =
/// destinations) these are the in-degrees.
torch::Tensor in_degrees(const CsrGraph& graph);
/// Returns: int64 [num_cols], how often each column occurs in `indices` (the out-degrees of the sources).
/// On CUDA, torch's bincount reads the largest column id on the host (one sync).
torch::Tensor out_degrees(const CsrGraph& graph);

/// @brief A subgraph and where its nodes and edges came from.
struct Subgraph {
  CsrGraph graph;
  torch::Tensor node_ids;  ///< int64 [k]: node i of `graph` is node_ids[i] of the parent
  torch::Tensor edge_ids;  ///< int64 [edges of `graph`]: position of each edge in the parent's CSR order
};

/// The subgraph on `nodes` (int64 [k], distinct ids of a square graph) with every edge between them, relabelled
/// so node i is nodes[i]; within a row, edges keep the parent's order. Throws naming an out-of-range or
/// repeated id.
Subgraph induced_subgraph(const CsrGraph& graph, const torch::Tensor& nodes);

/// The block whose destinations are `rows` (int64 [k], distinct ids in [0, num_rows)), in that order, with all
/// their edges (each row's edges in the parent's order). Sources: the rows first, then the other neighbours in
/// order of first appearance in the selected rows' CSR order; `indices` are local source ids and `edge_ids`
/// each edge's position in the parent (weights follow their edges). Row r and column r must be the same node
/// (a square graph, or a block's graph: num_rows <= num_cols). Throws naming an out-of-range or repeated id.
/// Runs on the graph's device; reads on the host the rows' range, whether a row repeats, the edge count and the
/// source count (a handful of device-host syncs).
Block select_rows(const CsrGraph& graph, const torch::Tensor& rows);

/// The edges of `rows` (int64 [k], ids in [0, num_rows); a repeated id repeats its row) as a k-row graph over the
/// parent's columns: row i lists rows[i]'s edges in the parent's order, with their parent column ids (num_cols
/// unchanged) and weights. Unlike select_rows nothing is relabelled, so features and logits indexed by the
/// parent's ids are used as they are, without a gather. Throws naming an out-of-range id. Runs on the graph's
/// device; reads the rows' range and the edge count on the host.
CsrGraph select_row_edges(const CsrGraph& graph, const torch::Tensor& rows);

/// Drops each edge independently with probability p in [0, 1] (the rest keep their order). GraphMAE2's
/// drop_edge is add_self_loops(drop_edges(remove_self_loops(g), p)). Same generator state, same result.
CsrGraph drop_edges(const CsrGraph& graph, double p, std::optional<at::Generator> generator = std::nullopt);
/// As above with a fresh CPU generator seeded with `seed`.
CsrGraph drop_edges(const CsrGraph& graph, double p, uint64_t seed);

/// The transpose (CSR <-> CSC): num_cols x num_rows, row c lists the rows r of the edges r -> c in increasing r
/// (each row's edges in the parent's order); weights follow their edges.
CsrGraph reverse(const CsrGraph& graph);

}  // namespace graphmae2::graph
