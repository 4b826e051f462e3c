#pragma once
// CPU kernels of gat_attention (called by graph/ops/gat_attention.cpp after its checks). All inputs contiguous,
// on the CPU, float32 or float64.

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::graph::cpu {

/// The fused attention's fixed inputs: LeakyReLU slope, attention dropout rate (0: none) and its Philox stream.
struct GatAttentionParams {
  double negative_slope = 0.2;
  double dropout = 0.0;
  uint64_t seed = 0;
  uint64_t offset = 0;
};

/// indptr [R + 1], indices [E], feat [C, H, D], el [C, H], er [R, H].
/// Returns {out [R, H, D], lse [R, H]}: lse is each row's log-sum-exp of the logits (-inf for a row without
/// edges), all backward needs to rebuild the attention without storing it.
std::pair<torch::Tensor, torch::Tensor> gat_attention_forward(const torch::Tensor& indptr,
                                                              const torch::Tensor& indices,
                                                              const torch::Tensor& feat, const torch::Tensor& el,
                                                              const torch::Tensor& er,
                                                              const GatAttentionParams& params);

/// Gradients of the forward's output: {d feat, d el, d er} (d feat is left undefined unless needs_feat). Three
/// passes: per row the attention and keep factors, per source (the edges in source order) the attention
/// gradients and d feat together, per row the logit gradients. Allocates two [E, H] buffers (the attention and
/// the logits' gradient) and the source order (16 bytes per edge). The forward's output is not needed: each
/// row's <grad_out, out> is summed from the per-edge products.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& lse, const torch::Tensor& grad_out,
    const GatAttentionParams& params, bool needs_feat);

}  // namespace graphmae2::graph::cpu
