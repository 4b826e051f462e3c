#pragma once
// Torch bridge of the spmm CUDA kernels: declared in every build (graph/ops/dispatch.h names it), defined
// only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA).
// Same contracts as graph/ops/cpu/spmm_kernel.h, on CUDA tensors, on torch's current stream, without
// host-device synchronisation.

#include <torch/torch.h>

namespace graphmae2::graph::cuda {

torch::Tensor spmm_forward(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                           const torch::Tensor& x);
torch::Tensor spmm_backward_weights(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& x,
                                    const torch::Tensor& grad_out);
/// The transposed graph is built per call with a stable sort of the columns (torch ops on the device).
torch::Tensor spmm_backward_x(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                              const torch::Tensor& grad_out, int64_t num_cols);

}  // namespace graphmae2::graph::cuda
