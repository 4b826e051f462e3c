#pragma once
// A GAT layer's attention logits from its projected features, when they cannot be folded into the projection
// (the sparse first projection hands the layer only its output): el[n, h] = <feat[n, h], attn_l[h]> for every
// source and er[n, h] = <feat[n, h], attn_r[h]> for the first num_dst. On the CPU (float32/float64) one pass reads
// each feature row once for both and backward is one pass plus a fixed-block reduction (the chain
// (feat * attn).sum(-1) ran 4 products and sums forward and 6 backward: 1% of a Cora epoch); elsewhere, and in
// double backward, it is that chain.

#include <torch/torch.h>

#include <utility>

namespace graphmae2::models::layers {

/// feat [N, H, D], attn_l / attn_r [1, H, D], num_dst <= N. Returns {el [N, H], er [num_dst, H]}, differentiable
/// w.r.t. all three inputs. The attention vectors' gradients are summed over the rows in fixed blocks, so they do
/// not depend on the thread count.
std::pair<torch::Tensor, torch::Tensor> head_logits(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                                    const torch::Tensor& attn_r, int64_t num_dst);

}  // namespace graphmae2::models::layers
