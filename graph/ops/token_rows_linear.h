#pragma once
// The projection of rows that all hold one learnable token under their own dropout scales (GraphMAE2's masked rows
// in the sparse first layer), with a backward that forms one dense product where autograd would form two.

#include <torch/torch.h>

namespace graphmae2::graph {

/// mm(token * keep, weight_t): token [1, F], weight_t [F, out] (the weight given transposed), keep [rows, F] (0 or
/// 1 / (1 - p), e.g. graph::dropout_scales). Returns: [rows, out]; differentiable w.r.t. token and weight_t. Backward
/// forms P = keep^T grad once ([F, out], weight_t's layout) and both gradients from it elementwise (grad_weight_t = P
/// * token^T, grad_token = row sums of P * weight_t). No hand-written kernel: the same ATen products on every
/// device, CUDA included.
/// Throws: a tensor undefined, shapes other than these.
torch::Tensor token_rows_linear(const torch::Tensor& token, const torch::Tensor& weight_t, const torch::Tensor& keep);

}  // namespace graphmae2::graph
