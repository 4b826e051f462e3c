#pragma once
// CPU kernel of random_walk (graph/sampling/random_walk.cpp calls it after its checks). Inputs contiguous, on the CPU.

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::sampling::cpu {

/// indptr int64 [N + 1], indices int64 [E], roots int64 [R]. Returns: int64 [R, walk_length + 1].
torch::Tensor random_walk(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& roots,
                          int64_t walk_length, uint64_t seed);

}  // namespace graphmae2::graph::sampling::cpu
