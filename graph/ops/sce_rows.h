#pragma once
// The scaled cosine error of GraphMAE per row, (1 - cos(x_i, y_i))^alpha: on the CPU one pass over x and y forward
// and one backward, where the chain runs about twenty elementwise ops over [N, D] (models/ssl/losses.h holds the
// losses built on it).

#include <torch/torch.h>

namespace graphmae2::graph {

/// loss[i] = max(1 - <x_i / max(|x_i|, eps), y_i / max(|y_i|, eps)>, 0)^alpha. x, y: [N, D]; alpha >= 1; eps > 0.
/// Returns: [N]; differentiable w.r.t. x and y. On the CPU, with x and y float32 or float64 of one dtype: the
/// kernel (its SIMD and scalar paths agree to rounding); otherwise (CUDA included), and in double backward, the
/// chain of ATen ops (normalise, product, sum, clamp, pow).
/// Throws: a tensor undefined, shapes that are not [N, D] alike, alpha < 1, eps <= 0.
torch::Tensor sce_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps);

/// sce_rows(x.index_select(0, x_rows), y, alpha, eps) for an x that gets no gradient: on the CPU the kernel reads x's
/// rows where they lie instead of a gathered copy. x: [M, D]; x_rows: int64 or int32 [N] in [0, M); y: [N, D].
/// Returns: [N]. An x that requires grad, or other devices (CUDA included), take the gather and the chain. The
/// kernel path checks x_rows' range on the host (CPU tensors: no device sync).
/// Throws: as sce_rows, and for x_rows of another dtype, count or range.
torch::Tensor sce_gathered_rows(const torch::Tensor& x, const torch::Tensor& x_rows, const torch::Tensor& y,
                                double alpha, double eps);

}  // namespace graphmae2::graph
