#pragma once
// Whole-graph transforms on CsrGraph (built on the CPU through CsrGraph::from_edges; results are returned on
// the input graph's device). Rows keep their meaning: a row lists the edges stored under that node.

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

/// Drops the edges r -> r; the other edges keep their order. Throws unless the graph is square.
CsrGraph remove_self_loops(const CsrGraph& graph);

/// Appends one edge r -> r at the end of every row (existing self-loops stay: call remove_self_loops first for
/// exactly one per node, as GraphMAE2 does). New edges get weight `fill` on a weighted graph. Square graphs only.
CsrGraph add_self_loops(const CsrGraph& graph, double fill = 1.0);

/// Returns: int64 [num_rows], the edges stored under each row; under the message-passing convention (rows =
/// destinations) these are the in-degrees.
torch::Tensor in_degrees(const CsrGraph& graph);
/// Returns: int64 [num_cols], how often each column occurs in `indices` (the out-degrees of the sources).
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

/// The rows `rows` (int64 [k], ids in [0, num_rows), repeats allowed) in that order, with all their edges and the
/// same num_cols: a bipartite block whose destination r is the parent's rows[r]. `edge_ids` of the result give
/// each edge's position in the parent. Runs on the graph's device.
Subgraph select_rows(const CsrGraph& graph, const torch::Tensor& rows);

/// Drops each edge independently with probability p in [0, 1] (the rest keep their order). GraphMAE2's
/// drop_edge is add_self_loops(drop_edges(remove_self_loops(g), p)). Same generator state, same result.
CsrGraph drop_edges(const CsrGraph& graph, double p, std::optional<at::Generator> generator = std::nullopt);
/// As above with a fresh CPU generator seeded with `seed`.
CsrGraph drop_edges(const CsrGraph& graph, double p, uint64_t seed);

/// The transpose (CSR <-> CSC): num_cols x num_rows, row c lists the rows r of the edges r -> c in increasing r
/// (each row's edges in the parent's order); weights follow their edges.
CsrGraph reverse(const CsrGraph& graph);

}  // namespace graphmae2::graph
