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

/// What the forward returns: out [R, H, D] and lse [R, H] (each row's log-sum-exp of the logits, -inf for a row
/// without edges); when asked to save for backward, also each edge's attention [E, H], signed as its logit (the
/// LeakyReLU's branch), and, with dropout, its keep flags [E, H] (uint8). These two are the op's only [E, H]
/// tensors: keeping them costs (4 + 1) bytes per edge and head and saves backward a pass that recomputes the
/// softmax and the dropout draws.
struct GatAttentionForward {
  torch::Tensor out, lse, attention, kept;
};

/// indptr [R + 1], indices [E], feat [C, H, D], el [C, H], er [R, H]; bias [H, D] (added to every row) or
/// undefined.
GatAttentionForward gat_attention_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                          const torch::Tensor& feat, const torch::Tensor& el, const torch::Tensor& er,
                                          const torch::Tensor& bias, const GatAttentionParams& params,
                                          bool save_attention);

/// Gradients of the forward's output from its saved attention and keep flags: {d feat, d el, d er} (d feat is left
/// undefined unless needs_feat). Two passes: per source (the edges in source order) the attention gradients and
/// d feat together, then per row the logit gradients. Allocates one [E, H] buffer (the logits' gradient) and the
/// source order (16 bytes per edge). The forward's output is not needed: each row's <grad_out, out> is summed from
/// the per-edge products.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& attention, const torch::Tensor& kept, const torch::Tensor& grad_out,
    const GatAttentionParams& params, bool needs_feat);

}  // namespace graphmae2::graph::cpu
