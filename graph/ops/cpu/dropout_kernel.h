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
/// themselves (a new tensor like `like`). keep(i) as graph/ops/philox.h's philox_element_bits defines it.
torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params);

}  // namespace graphmae2::graph::cpu
