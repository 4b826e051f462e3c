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

}  // namespace graphmae2::graph::cpu
