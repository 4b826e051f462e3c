#pragma once
// CPU kernels of sce_rows (called by graph/ops/sce_rows.cpp after its checks). x, y contiguous, on the CPU, float32
// or float64 of one dtype.

#include <torch/torch.h>

#include <utility>

namespace graphmae2::graph::cpu {

/// x [M, D] (M = N without x_rows), x_rows int64 [N] or undefined (row i of x is row i), y [N, D].
/// Returns: {loss [N], stats [N, 3]}: per row 1 / max(|x|, eps) (negated where |x| < eps), the same for y, and cos.
std::pair<torch::Tensor, torch::Tensor> sce_rows_forward(const torch::Tensor& x, const torch::Tensor& x_rows,
                                                         const torch::Tensor& y, double alpha, double eps);

/// The gradients from the forward's stats and grad_loss [N]; each is undefined where its need_* is false.
/// Returns: {grad_x [N, D] (x's rows as read, not scattered to x_rows), grad_y [N, D]}.
std::pair<torch::Tensor, torch::Tensor> sce_rows_backward(const torch::Tensor& x, const torch::Tensor& x_rows,
                                                          const torch::Tensor& y, const torch::Tensor& stats,
                                                          const torch::Tensor& grad_loss, double alpha, double eps,
                                                          bool need_x, bool need_y);

}  // namespace graphmae2::graph::cpu
