#pragma once
// Uniform random walks (GraphSAINT's random-walk sampler draws its node sets with them), CPU and CUDA.

#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::sampling {

/// Returns: int64 [R, walk_length + 1]: row i is a walk from roots[i] (column 0) that moves at each step to the
/// index of a uniformly drawn edge of the current row; a node without edges ends the walk and the rest of the
/// row is -1. Walk i's draws depend only on (seed, i): the same on the CPU whatever the thread count, and on a
/// GPU. Runs on the graph's device (one thread per walk on CUDA; no host sync). Throws naming a walk length < 1,
/// a root that is out of range (a host read of the roots' range) or not int64, devices that differ.
torch::Tensor random_walk(const CsrGraph& graph, const torch::Tensor& roots, int64_t walk_length, uint64_t seed);

}  // namespace graphmae2::graph::sampling
