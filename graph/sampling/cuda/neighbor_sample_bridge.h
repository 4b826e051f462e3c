#pragma once
// Torch bridge of the neighbor_sample CUDA kernels: declared in every build (graph/ops/dispatch.h names it),
// defined only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA). Same contract as
// graph/sampling/cpu/neighbor_sample_kernel.h on CUDA tensors and torch's current stream, except that repeated
// destinations are not detected (the CPU path names them).

#include "graph/block.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace graphmae2::graph::sampling::cuda {

Block sample_neighbors(const torch::Tensor& indptr, const torch::Tensor& indices,
                       const std::optional<torch::Tensor>& weights, const torch::Tensor& dst, int64_t fanout,
                       uint64_t seed, uint64_t stream, bool return_edge_ids);

}  // namespace graphmae2::graph::sampling::cuda
