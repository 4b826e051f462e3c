#pragma once
// Fused GAT attention: edge logits, LeakyReLU, softmax over each destination's incoming edges, attention dropout
// and the weighted aggregation in one op, forward and backward, on the CPU and CUDA.

#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace graphmae2::graph {

struct GatAttentionOptions {
  TORCH_ARG(double, negative_slope) = 0.2;
  /// Attention dropout rate in [0, 1); 0 (evaluation) draws nothing.
  TORCH_ARG(double, dropout) = 0.0;
  /// Philox seed of the dropout mask. Unset: drawn from the default generator of the tensors' device (the CUDA
  /// generator's Philox seed and offset on a GPU), so torch::manual_seed makes runs repeat.
  TORCH_ARG(std::optional<uint64_t>, seed) = std::nullopt;
};

/// out[r, h, :] = sum over edges e = (s -> r) of a[e, h] * feat[s, h, :], where
/// a[e, h] = dropout(softmax over r's edges of leaky_relu(el[s, h] + er[r, h])).
///
/// feat [num_cols, H, D], el [num_cols, H], er [num_rows, H]: float32/float64 on the CPU, also float16 and
/// bfloat16 on CUDA (accumulated in float32); rows are destinations (a graph::Block's graph works as is).
/// `bias` (optional, H x D values in any shape) is added to every output row; the CPU kernel writes it with the
/// sum, saving a pass over the output.
/// Returns [num_rows, H, D]; a row without edges gives zeros (the bias, with one). Differentiable w.r.t. feat, el,
/// er and bias (not twice).
///
/// Memory: no [E, H, D] tensor and no [E, H] tensor is kept between forward and backward: the forward saves
/// each row's log-sum-exp [num_rows, H] only (backward sums each row's <grad_out, out> from its per-edge
/// products, so the output is not kept); the dropout mask is recomputed from its Philox
/// counter (graph/ops/philox.h: the same mask on the CPU and on CUDA for the same seed). Backward allocates two
/// [E, H] buffers (attention and logit gradients) for the transposed aggregation and the scatter to sources,
/// and the edges' order by source with their rows (16 bytes per edge) for the transposed aggregation.
torch::Tensor gat_attention(const CsrGraph& graph, const torch::Tensor& feat, const torch::Tensor& el,
                            const torch::Tensor& er, const GatAttentionOptions& options = {},
                            const torch::Tensor& bias = {});

}  // namespace graphmae2::graph
