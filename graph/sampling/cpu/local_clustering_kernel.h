#pragma once
// CPU kernel of local_clustering (called by graph/sampling/local_clustering.cpp after its checks). Inputs contiguous.

#include "graph/sampling/local_clustering.h"

#include <torch/torch.h>

namespace graphmae2::graph::sampling::cpu {

/// indptr int64 [N + 1], indices int64 [E], seeds int64 [S] in [0, N). Returns: see graph::sampling::local_clustering.
EgoGraphs local_clustering(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& seeds,
                           const LocalClusteringOptions& options);

}  // namespace graphmae2::graph::sampling::cpu
