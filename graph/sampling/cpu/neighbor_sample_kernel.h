#pragma once
// CPU kernel of neighbor_sample (called by graph/sampling/neighbor_sample.cpp after its checks). Inputs contiguous,
// on the CPU; the per-node draws are graph/sampling/common.h's, the same code a CUDA thread runs.

#include "graph/block.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace graphmae2::graph::sampling::cpu {

/// indptr int64 [N + 1], indices int64 [E], weights float32 [E] or none (uniform), dst int64 [n] in [0, N).
/// Returns: the sampled block (see graph::sample_neighbors). Throws naming a repeated destination.
Block sample_neighbors(const torch::Tensor& indptr, const torch::Tensor& indices,
                       const std::optional<torch::Tensor>& weights, const torch::Tensor& dst, int64_t fanout,
                       uint64_t seed, uint64_t stream, bool return_edge_ids);

}  // namespace graphmae2::graph::sampling::cpu
