#pragma once
// CPU products of csr_projection (called by graph/ops/csr_projection.cpp after its checks): LibTorch's sparse CSR
// product, no hand-written SIMD (the CPU switch of graph/ops/simd.h does not apply). Inputs on the CPU.

#include <torch/torch.h>

namespace graphmae2::graph::cpu {

/// The [rows, dense.size(0)] CSR matrix (indptr, indices, values) times dense [dense.size(0), out], into a fresh
/// [rows, out] tensor. Returns: the product.
torch::Tensor csr_projection_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                     const torch::Tensor& values, const torch::Tensor& dense);

/// The gradient of the forward w.r.t. dense: A^T grad, A^T's rows in the pattern's row order, so that each entry sums
/// its terms in the forward's order. num_cols: A's columns. Returns: [num_cols, out].
torch::Tensor csr_projection_backward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                      const torch::Tensor& values, const torch::Tensor& grad, int64_t num_cols);

}  // namespace graphmae2::graph::cpu
