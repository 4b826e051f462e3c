#pragma once
// A GAT layer's attention logits from its projected features, where they cannot be folded into the projection (the
// sparse first projection hands the layer only its output). On the CPU one pass reads each feature row once for
// both logits, and backward is one pass plus a fixed-block reduction, where the chain (feat * attn).sum(-1) runs
// several products and sums each way.

#include <torch/torch.h>

#include <utility>

namespace graphmae2::graph {

/// el[n, h] = <feat[n, h], attn_l[0, h]> for every row n, er[n, h] = <feat[n, h], attn_r[0, h]> for n < num_dst.
/// feat [N, H, D]; attn_l, attn_r [1, H, D]; 0 <= num_dst <= N.
/// Returns: {el [N, H], er [num_dst, H]}, differentiable w.r.t. all three inputs. On the CPU, with all three
/// float32 or float64 of one dtype: the kernel, whose attention-vector gradients are summed over rows in fixed
/// blocks (the same bits on any thread count); its SIMD and scalar paths agree to rounding. Otherwise (CUDA
/// included), and in double backward: the chain (feat * attn_l).sum(-1), (feat[:num_dst] * attn_r).sum(-1).
/// Throws: a tensor undefined, shapes other than these, num_dst outside [0, N].
std::pair<torch::Tensor, torch::Tensor> head_logits(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                                    const torch::Tensor& attn_r, int64_t num_dst);

}  // namespace graphmae2::graph
