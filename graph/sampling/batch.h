#pragma once
// Batched graphs: many subgraphs as one block-diagonal graph (dgl.batch), and the induced subgraphs of many node
// sets built in one parallel call (what GraphMAE2's reference does one ego-graph at a time in Python).
//
// Host copies: both functions work on the CPU; inputs on another device are copied to the host and the result
// is returned on the CPU (batches are built by loader threads, then moved to the device whole).

#include "graph/csr_graph.h"
#include "graph/transforms.h"

#include <torch/torch.h>

#include <vector>

namespace graphmae2::graph::sampling {

/// @brief B graphs side by side: part b owns nodes [node_offsets[b], node_offsets[b+1]) and no edge joins parts.
struct BatchedGraph {
  CsrGraph graph;              ///< block-diagonal, square
  torch::Tensor node_offsets;  ///< int64 [B + 1]
  torch::Tensor node_ids;      ///< int64 [total nodes]: the parent id of each node (a node in two parts appears twice)
  torch::Tensor edge_ids;      ///< int64 [total edges]: each edge's position in the parent's CSR

  int64_t num_graphs() const { return node_offsets.defined() ? node_offsets.size(0) - 1 : 0; }
};

/// Block-diagonal union of subgraphs, in order (part b's node i becomes node node_offsets[b] + i); node_ids and
/// edge_ids concatenate the parts'. Weights are kept if every part has them. Throws on an empty list or a
/// non-square part.
BatchedGraph batch(const std::vector<Subgraph>& parts);

/// The induced subgraphs of node sets (set s = set_nodes[set_indptr[s] .. set_indptr[s+1]), distinct ids of the
/// square `graph`), batched block-diagonally: equal to batch({induced_subgraph(graph, set_s)...}) (node i of a
/// part is the set's i-th node; within a row, edges keep the parent's order). Parallel over sets. Throws naming
/// the set and position of an out-of-range or repeated id, or a malformed set_indptr.
BatchedGraph batched_induced_subgraphs(const CsrGraph& graph, const torch::Tensor& set_indptr,
                                       const torch::Tensor& set_nodes);

}  // namespace graphmae2::graph::sampling
