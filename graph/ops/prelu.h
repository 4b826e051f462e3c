#pragma once
// PReLU with one learnable slope (torch::prelu with a [1] weight). On the CPU the forward and the backward are each
// one vectorised pass: ATen's CPU prelu is a scalar loop, and its backward sums the slope's gradient in a second pass.

#include <torch/torch.h>

namespace graphmae2::graph {

/// y = x > 0 ? x : weight * x, elementwise. x: any shape; weight: [1], a single slope.
/// Returns: a tensor of x's shape, torch::prelu's values bit for bit; differentiable w.r.t. x and weight (double
/// backward through torch's formulas). On the CPU, with x and weight float32 or float64 of one dtype: the kernel,
/// which reads the slope on the host (a CPU tensor: no device sync) and sums the slope's gradient in double over
/// fixed blocks, so that it does not depend on the thread count; its SIMD and scalar paths give the same bits.
/// Otherwise, CUDA included: torch::prelu itself (no kernel of ours).
/// Throws: x or weight undefined; weight not of shape [1].
torch::Tensor prelu(const torch::Tensor& x, const torch::Tensor& weight);

}  // namespace graphmae2::graph
