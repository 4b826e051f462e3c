#pragma once
// CPU kernel of graph/ops/dropout.h.

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::cpu {

struct DropoutParams {
  double rate = 0.0;
  uint64_t seed = 0, offset = 0;
};

/// out[i] = keep(i) * in[i] / (1 - rate) over a contiguous float32/float64 tensor; with `in` undefined, the scales
/// themselves (a new tensor like `like`). keep(i) iff (philox_dropout_bits(seed, offset, i) >> 8) >=
/// philox_dropout_threshold(rate) (graph/ops/philox.h).
torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params);

/// dropout_forward(in, in, params), also returning the keep flags for backward: one bit per element (bit j of word
/// c is element 64 c + j), an int64 tensor of ceil(numel / 64) words, 1/32 of a float32 input's size.
std::pair<torch::Tensor, torch::Tensor> dropout_forward_keeping_mask(const torch::Tensor& in,
                                                                     const DropoutParams& params);

/// grad * the forward's scales, from its saved flags: one pass over memory, no Philox draws.
torch::Tensor dropout_backward_from_mask(const torch::Tensor& grad, const torch::Tensor& mask, double rate);

}  // namespace graphmae2::graph::cpu
