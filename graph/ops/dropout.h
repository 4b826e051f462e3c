#pragma once
// Dropout whose mask is counter-based (Philox4x32-10, graph/ops/philox.h): element i of the contiguous input is
// kept iff the top 24 bits of philox_dropout_bits(seed, offset, i), as a uniform in [0, 1), are >= p, where (seed,
// offset) is drawn once per call from the device's default generator; kept elements are scaled by 1 / (1 - p).
// Nothing of the input's size is stored for backward. On the CPU, when a backward will follow, the forward keeps the
// mask as 1 bit per element (1/32 of a float32 input), which spares backward the Philox draws (half its time);
// elsewhere the mask is recomputed from (seed, offset). The CPU and CUDA
// kernels draw the same mask for the same (seed, offset), and torch::manual_seed repeats a run (checkpoints hold
// the generators).
// Why not torch's dropout: on the CPU it draws one mt19937 number per element, serially (ATen's MKL Bernoulli
// path is for Intel CPUs only), and it keeps a mask as large as its input (bench_ops' BM_Dropout times both).

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph {

/// x with each element dropped with probability p and the rest scaled by 1 / (1 - p); x itself when !training or
/// p == 0. float32/float64 (CPU and CUDA), float16/bfloat16 (CUDA). Differentiable w.r.t. x.
torch::Tensor dropout(const torch::Tensor& x, double p, bool training);

/// dropout(x, p, true) with the given (seed, offset) instead of the generator's: the same mask on every device.
torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed, uint64_t offset);

/// The scales the same op multiplies by: a new [sizes] tensor of 0 and 1 / (1 - p) with `options`' dtype and
/// device (all 1 when p == 0). For products that take the mask as an operand (graph::token_rows_linear).
torch::Tensor dropout_scales(at::IntArrayRef sizes, double p, const torch::TensorOptions& options);

}  // namespace graphmae2::graph
