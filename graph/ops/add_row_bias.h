#pragma once
// A bias added to every row of a fresh product, in place, with the bias's gradient as one GEMV-shaped product
// (ones^T grad) instead of torch's column sum, which is slower on a wide output (docs/performance.md).

#include <torch/torch.h>

namespace graphmae2::graph {

/// x[n, :] += bias for every row n, written into x, which is returned. x: [N, W], a fresh result that nothing else
/// reads (autograd marks it dirty: in-place rules apply); bias: [W], x's dtype and device.
/// Returns: x; differentiable w.r.t. x and bias (not twice). No hand-written kernel: the same ATen calls (add_, mm)
/// run on every device, CUDA included.
/// Throws: a tensor undefined, shapes other than these, dtypes or devices that differ.
torch::Tensor add_row_bias_(torch::Tensor x, const torch::Tensor& bias);

}  // namespace graphmae2::graph
