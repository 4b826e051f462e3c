#pragma once
// Torch bridge of the segment_softmax CUDA kernels: declared in every build (graph/ops/dispatch.h names it), defined
// only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA).
// Same contracts as graph/ops/cpu/segment_softmax_kernel.h, on CUDA tensors, on torch's current stream.

#include <torch/torch.h>

namespace graphmae2::graph::cuda {

torch::Tensor segment_softmax_forward(const torch::Tensor& scores, const torch::Tensor& indptr);
torch::Tensor segment_softmax_backward(const torch::Tensor& out, const torch::Tensor& grad_out,
                                       const torch::Tensor& indptr);

}  // namespace graphmae2::graph::cuda
