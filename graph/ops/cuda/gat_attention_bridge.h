#pragma once
// Torch bridge of the gat_attention CUDA kernels: declared in every build (graph/ops/dispatch.h names it),
// defined only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA). The contracts of graph/ops/cpu/gat_attention_kernel.h
// on CUDA tensors (float32/64, float16, bfloat16), on torch's current stream, without host-device synchronisation,
// except that nothing of [E, H] is saved: the backward recomputes the attention and the dropout draws from lse.

#include "graph/ops/cpu/gat_attention_kernel.h"

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace graphmae2::graph::cuda {

/// (seed, offset) for one call's dropout from the device's default CUDA generator (advances its offset).
std::pair<uint64_t, uint64_t> gat_attention_philox_inputs(const torch::Device& device);

/// lse is float32 for float16/bfloat16 feat. bias: [H, D] contiguous, or undefined for none.
std::pair<torch::Tensor, torch::Tensor> gat_attention_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                                              const torch::Tensor& feat, const torch::Tensor& el,
                                                              const torch::Tensor& er, const torch::Tensor& bias,
                                                              const cpu::GatAttentionParams& params);

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& lse, const torch::Tensor& grad_out,
    const cpu::GatAttentionParams& params, bool needs_feat);

}  // namespace graphmae2::graph::cuda
