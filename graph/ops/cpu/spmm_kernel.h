#pragma once
// CPU kernels of spmm (called by graph/ops/spmm.cpp after its checks). All inputs contiguous, on the CPU.

#include <torch/torch.h>

namespace graphmae2::graph::cpu {

/// indptr int64 [R + 1], indices int64 [E], weights [E, H], x [C, H, F]. Returns: out [R, H, F].
torch::Tensor spmm_forward(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                           const torch::Tensor& x);

/// Returns: d loss / d weights, [E, H]: grad_w[e, h] = <grad_out[row(e), h, :], x[indices[e], h, :]>.
torch::Tensor spmm_backward_weights(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& x,
                                    const torch::Tensor& grad_out);

/// Returns: d loss / d x, [num_cols, H, F]: the forward on the transposed graph, which is built per call by a
/// stable counting sort (O(E + C), serial), so the accumulation itself stays parallel and free of atomics.
torch::Tensor spmm_backward_x(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                              const torch::Tensor& grad_out, int64_t num_cols);

}  // namespace graphmae2::graph::cpu
