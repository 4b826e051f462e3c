#pragma once
// Torch bridge of the random_walk CUDA kernel: declared in every build (graph/ops/dispatch.h names it), defined
// only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA). Same contract as graph/sampling/cpu/random_walk_kernel.h on
// CUDA tensors and torch's current stream.

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::sampling::cuda {

torch::Tensor random_walk(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& roots,
                          int64_t walk_length, uint64_t seed);

}  // namespace graphmae2::graph::sampling::cuda
