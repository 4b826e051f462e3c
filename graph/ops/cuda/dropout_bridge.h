#pragma once
// Torch bridge of the dropout CUDA kernel: declared in every build (graph/ops/dispatch.h names it), defined only
// with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA). Same contract as graph/ops/cpu/dropout_kernel.h on CUDA tensors
// (float32/64, float16, bfloat16), on torch's current stream, without host-device synchronisation.

#include "graph/ops/cpu/dropout_kernel.h"

#include <torch/torch.h>

namespace graphmae2::graph::cuda {

torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const cpu::DropoutParams& params);

}  // namespace graphmae2::graph::cuda
