#pragma once
// CPU kernels of segment_softmax (called by graph/ops/segment_softmax.cpp after its checks).

#include <torch/torch.h>

namespace graphmae2::graph::cpu {

/// scores: contiguous float/double [num_edges, H]; indptr: contiguous int64 [num_rows + 1] on the CPU.
/// Returns: the per-row softmax, [num_edges, H].
torch::Tensor segment_softmax_forward(const torch::Tensor& scores, const torch::Tensor& indptr);

/// out: the forward result; grad_out: same shape.
/// Returns: d loss / d scores = out * (grad_out - rowsum(out * grad_out)).
torch::Tensor segment_softmax_backward(const torch::Tensor& out, const torch::Tensor& grad_out,
                                       const torch::Tensor& indptr);

}  // namespace graphmae2::graph::cpu
