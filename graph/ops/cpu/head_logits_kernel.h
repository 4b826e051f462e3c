#pragma once
// CPU kernels of head_logits (called by graph/ops/head_logits.cpp after its checks). All inputs contiguous, on the
// CPU, float32 or float64 of one dtype.

#include <torch/torch.h>

#include <tuple>
#include <utility>

namespace graphmae2::graph::cpu {

/// feat [N, H, D], attn_l / attn_r [1, H, D]. Returns: {el [N, H], er [num_dst, H]}.
std::pair<torch::Tensor, torch::Tensor> head_logits_forward(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                                            const torch::Tensor& attn_r, int64_t num_dst);

/// grad_el [N, H], grad_er [num_dst, H]. Returns: {grad_feat [N, H, D], grad_attn_l [1, H, D], grad_attn_r [1, H,
/// D]}; the attention vectors' gradients are per-block partial sums added in block order.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> head_logits_backward(
    const torch::Tensor& feat, const torch::Tensor& attn_l, const torch::Tensor& attn_r, int64_t num_dst,
    const torch::Tensor& grad_el, const torch::Tensor& grad_er);

}  // namespace graphmae2::graph::cpu
