#pragma once
// Neighbour sampling (GraphSAGE / DGL's NeighborSampler): per-layer Blocks of a mini-batch, CPU and CUDA.

#include "graph/block.h"
#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace graphmae2::graph::sampling {

/// @brief How one hop samples.
struct NeighborSampleOptions {
  /// Sample in proportion to the graph's edge weights (without replacement; edges of weight 0 are never
  /// drawn). Needs a weighted graph; weights must be finite and >= 0.
  bool weighted = false;
  /// Keep each sampled edge's position in the parent CSR in Block::edge_ids.
  bool return_edge_ids = true;
};

/// One hop. For each destination dst_nodes[i] (int64, distinct node ids of the square `graph`, whose rows are
/// destinations and indices their sources) draws sample_count = min(fanout, degree) of its edges uniformly
/// without replacement (all of them for fanout = -1), kept in the parent's CSR order. The draws of node v
/// depend only on (seed, stream, v): the same seed gives the same sample whatever the thread count, on the CPU
/// and on a GPU alike. Returns: the Block whose destinations are dst_nodes (in that order) and whose sources are
/// the destinations followed by the other sampled neighbours in order of first appearance.
/// CPU: parallel over destinations; the relabelling is one serial pass over the sampled edges; each calling
/// thread keeps a node-indexed map (8 bytes per node of the largest graph it sampled) that is reset sparsely.
/// CUDA: host syncs per call: one for the number of sources (torch::unique), plus one for the edge count
/// when fanout = -1. Throws naming a fan-out < -1, an out-of-range or (CPU) repeated destination, a non-int64
/// dst_nodes, devices that differ.
Block sample_neighbors(const CsrGraph& graph, const torch::Tensor& dst_nodes, int64_t fanout, uint64_t seed,
                       uint64_t stream = 0, const NeighborSampleOptions& options = {});

/// @brief The blocks of one mini-batch, input layer first: blocks[l] feeds encoder layer l.
struct SampledBlocks {
  std::vector<Block> blocks;  ///< blocks[l + 1].src_ids == blocks[l].dst_ids()
  torch::Tensor input_nodes;  ///< = blocks[0].src_ids: the nodes whose features the batch reads
  torch::Tensor seeds;        ///< = blocks.back().dst_ids(): the batch's output nodes
};

/// Multi-layer sampling as DGL's NeighborSampler: fanouts[l] is layer l's fan-out (input layer first), sampling
/// runs from the seeds outwards (fanouts.back() first); hop l draws with stream = l. Throws on an empty fan-out
/// list (and as sample_neighbors).
SampledBlocks sample_blocks(const CsrGraph& graph, const torch::Tensor& seeds, const std::vector<int64_t>& fanouts,
                            uint64_t seed, const NeighborSampleOptions& options = {});

}  // namespace graphmae2::graph::sampling
