#pragma once
// CPU kernels of prelu (called by graph/ops/prelu.cpp after its checks): float32 or float64, on the CPU.

#include <torch/torch.h>

#include <utility>

namespace graphmae2::graph::cpu {

/// x contiguous, weight [1] of x's dtype. Returns: y, x's shape.
torch::Tensor prelu_forward(const torch::Tensor& x, const torch::Tensor& weight);

/// x and grad contiguous, of one shape. Returns: {grad_x, grad_weight [1]}: grad_weight is the sum of x * grad where
/// x <= 0, over blocks of 16384 elements in double, the blocks' sums added in block order.
std::pair<torch::Tensor, torch::Tensor> prelu_backward(const torch::Tensor& x, const torch::Tensor& grad,
                                                       const torch::Tensor& weight);

}  // namespace graphmae2::graph::cpu
