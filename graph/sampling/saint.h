#pragma once
// GraphSAINT's random-walk subgraph sampler (Zeng et al., ICLR'20): the node set of a few random walks and
// every edge between those nodes.

#include "graph/csr_graph.h"
#include "graph/transforms.h"

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::sampling {

/// @brief One GraphSAINT sample.
struct SaintSample {
  Subgraph subgraph;    ///< induced on the visited nodes (node_ids ascending), edges in the parent's order
  torch::Tensor roots;  ///< int64 [num_roots]: the walks' start nodes
};

/// Draws num_roots roots uniformly (with replacement) from the graph's nodes, walks walk_length uniform steps
/// from each (random_walk), and returns the subgraph induced on every node visited. Same seed, same sample
/// (whatever the thread count). CPU graph; O(visited nodes' edges), not O(graph). Throws naming num_roots < 1, a
/// walk length < 1 or an empty graph. (GraphSAINT's loss/aggregator normalisation is not applied: GraphMAE2's
/// reference never wires this sampler, so there is no protocol to match.)
SaintSample saint_random_walk_sample(const CsrGraph& graph, int64_t num_roots, int64_t walk_length, uint64_t seed);

}  // namespace graphmae2::graph::sampling
