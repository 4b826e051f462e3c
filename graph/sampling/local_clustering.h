#pragma once
// Local clustering: the personalised-PageRank ego-graphs GraphMAE2 trains on at ogbn scale (the reference's
// datasets/localclustering.py on localgraphclustering's ACL push), parallel over seeds.

#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace graphmae2::graph::sampling {

/// @brief The reference's parameters (approximate_PageRank(G, [seed], iterations=1000, method='acl',
/// normalize=False), ego size 256 in GraphMAE2's configs).
struct LocalClusteringOptions {
  double alpha = 0.15;            ///< teleport probability
  double rho = 1e-6;              ///< push threshold: a node is pushed while its residual >= rho * degree
  int64_t max_push_steps = 1000;  ///< the package's `iterations`: pushes per seed at most
  int64_t ego_size = 256;         ///< nodes kept per seed (fewer when fewer have PageRank mass)
  bool return_ppr = false;        ///< also return each kept node's PageRank value
};

/// @brief Ego-graphs of many seeds in CSR form: seed s owns indices[indptr[s] .. indptr[s+1]), seed first.
struct EgoGraphs {
  torch::Tensor seeds;   ///< int64 [S]
  torch::Tensor indptr;  ///< int64 [S + 1]
  /// Each seed's ego nodes, seed first: int32 when every node id fits (compact(); what local_clustering and the
  /// ego-graph file reader return: 4 bytes per id instead of 8, as these lists are the largest allocation of an
  /// lc run on an ogbn graph), else int64. Take int64 ids with nodes() or `indices.to(torch::kLong)` per batch.
  torch::Tensor indices;
  std::optional<torch::Tensor> ppr;  ///< float64, aligned with indices (return_ppr only)

  int64_t size() const { return seeds.defined() ? seeds.size(0) : 0; }
  /// Returns: the ego nodes of seed number s, int64 (a copy).
  torch::Tensor nodes(int64_t s) const;
  /// The same ego-graphs with `indices` held as int32 when every id is below 2^31 (otherwise unchanged).
  EgoGraphs compact() const;
  /// Returns: the ego-graphs numbered `which` (int64, in that order), without their PageRank values.
  EgoGraphs select(const torch::Tensor& which) const;
};

/// Per seed, exactly the reference's pipeline: the package's C++ `aclpagerank` push from the seed alone (a FIFO
/// queue; the same pushes, in the same order, with the same double arithmetic, so the same PageRank values);
/// the nodes that were pushed (and the seed) sorted by PageRank descending; the first ego_size kept; those
/// re-sorted by PageRank * min(1, 1/degree), descending. Ties, which the package breaks by hash-map order, are
/// broken by ascending node id in the first sort and kept in that order by the second (a stable sort); if the
/// seed is not first after the re-sort (the reference asserts it is), it is moved to the front.
/// `graph`: square, on the CPU; rows are nodes, degrees are row lengths. Use it on the graph the reference
/// builds (bidirected_with_self_loops: sorted neighbours, one self-loop per node): neighbour order sets the
/// queue order. Parallel over seeds; each thread keeps 17 bytes per graph node of scratch, reset sparsely, so a
/// seed costs only the nodes its push reaches. Throws naming a bad option, or a seed that is out of range or not
/// int64.
EgoGraphs local_clustering(const CsrGraph& graph, const torch::Tensor& seeds,
                           const LocalClusteringOptions& options = {});

/// As above, in chunks of `chunk_size` seeds, calling on_progress(seeds done) after each chunk (for a progress
/// bar; the result is the same as one call).
EgoGraphs local_clustering(const CsrGraph& graph, const torch::Tensor& seeds, const LocalClusteringOptions& options,
                           const std::function<void(int64_t)>& on_progress, int64_t chunk_size = 8192);

/// Returns: the concatenation of ego-graph lists (seeds, ego-graphs and PageRank values, in order).
EgoGraphs concat(const std::vector<EgoGraphs>& parts);

}  // namespace graphmae2::graph::sampling
