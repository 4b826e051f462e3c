#pragma once
// Edge lists -> CsrGraph, with the clean-ups dataset readers apply (symmetrise, drop self-loops, dedupe).

#include "graph/csr_graph.h"

#include <cstdint>
#include <string>
#include <vector>

namespace graphmae2::datasets {

/// @brief What build_graph does to an edge list before storing it.
struct EdgeListOptions {
  bool symmetrize = false;       ///< add dst -> src for every src -> dst
  bool drop_self_loops = false;  ///< remove v -> v
  bool deduplicate = false;      ///< keep one copy of each (src, dst)
};

/// Builds the CsrGraph of `num_nodes` nodes whose row v lists the sources of v's incoming edges
/// (src[e] -> dst[e]), sources sorted ascending within each row. O(E + N) counting sort plus per-row sorts.
/// Throws std::runtime_error naming `source` and the edge position if an id is outside [0, num_nodes).
graph::CsrGraph build_graph(const std::vector<int64_t>& src, const std::vector<int64_t>& dst, int64_t num_nodes,
                            const EdgeListOptions& opts, const std::string& source = "edge list");

}  // namespace graphmae2::datasets
