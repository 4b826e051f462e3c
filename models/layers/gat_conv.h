#pragma once
// Graph attention convolution (Velickovic et al.) over a CsrGraph, with GraphMAE2's options.

#include "graph/block.h"
#include "graph/csr_graph.h"
#include "graph/ops/gat_attention.h"
#include "models/layers/activation.h"

#include <torch/torch.h>

#include <string>
#include <utility>

namespace graphmae2::models::layers {

struct GATConvOptions {
  GATConvOptions(int64_t in_features, int64_t out_features, int64_t heads)
      : in_features_(in_features), out_features_(out_features), heads_(heads) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);  ///< per head
  TORCH_ARG(int64_t, heads);
  TORCH_ARG(bool, concat) = true;  ///< concatenate heads (else average them)
  TORCH_ARG(double, feat_drop) = 0.0;
  TORCH_ARG(double, attn_drop) = 0.0;
  TORCH_ARG(double, negative_slope) = 0.2;
  TORCH_ARG(bool, residual) = false;
  /// The reference gives a width-preserving layer no residual at all; true adds the identity instead.
  TORCH_ARG(bool, identity_residual) = false;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(Norm, norm) = Norm::none;
  TORCH_ARG(Activation, activation) = Activation::none;
  /// Attention through the fused op graph::gat_attention (no [E, H] tensor kept for backward, dropout mask
  /// recomputed); false runs the reference chain of torch ops (index_select, leaky_relu, segment_softmax,
  /// dropout, spmm), which also supports double backward.
  TORCH_ARG(bool, fused_attention) = true;
};

/// @brief What GATConv::forward reads besides the graph: the layer input (implicitly, from a tensor), or its
/// projection made elsewhere, and optionally the destination rows wanted.
struct GATConvInput {
  /// The layer input x: [num_cols, in_features].
  GATConvInput(torch::Tensor x) : x(std::move(x)) {}  // NOLINT(google-explicit-constructor): a tensor is an input
  /// The layer after its input projection: `projection` = fc(dropout(x)) made elsewhere ([num_cols, heads *
  /// out_features], e.g. the sparse first layer's masked_sparse_linear), `logits` ([num_cols, 2H], optional) = x
  /// folded_attention()^T made with it (el's heads, then er's); otherwise the logits come from the projection. Only
  /// for layers without a residual, which would need x itself (accepts_projected_input()).
  static GATConvInput projected(torch::Tensor projection, torch::Tensor logits = {});
  /// The same input with only the destination rows `rows` (int64, of a square graph) wanted: the output is
  /// forward(graph, input).index_select(0, rows).
  GATConvInput with_rows(torch::Tensor rows) const;

  torch::Tensor x, projection, logits, rows;
};

/// @brief Multi-head graph attention: dropout -> linear -> attention over each row's edges -> weighted sum
/// -> bias -> residual -> concat/mean heads -> norm -> activation (the reference's order).
///
/// Rows of the graph are destinations, `indices` their sources. For a bipartite graph (num_rows < num_cols)
/// the destination nodes are the first num_rows rows of the input: the graph::Block convention.
/// One way in, forward; the fast paths are chosen inside: a projection made elsewhere skips the layer's own, and
/// selected rows of a one-head layer without residual or norm aggregate before the projection (only the selected
/// rows are projected; same function, attention dropout drawn for their edges only).
class GATConvImpl : public torch::nn::Cloneable<GATConvImpl> {
 public:
  explicit GATConvImpl(GATConvOptions options);
  void reset() override;
  void reset_parameters();

  /// input: x [num_cols, in_features] (a tensor converts), or GATConvInput::projected, optionally with_rows.
  /// Returns [num_rows, heads * out_features] (concat) or [num_rows, out_features] (rows.size(0) rows with_rows).
  /// A square graph is its own full block; a bipartite one reads its destinations as the input's first num_rows
  /// rows. Throws naming the shapes when the input does not fit the graph or the layer.
  torch::Tensor forward(const graph::CsrGraph& graph, const GATConvInput& input);
  /// The same on a block: the input holds the block's sources (block.num_src() rows; the destinations' own
  /// features are its first num_dst rows: residual and attn_r). Returns [block.num_dst(), width].
  torch::Tensor forward(const graph::Block& block, const GATConvInput& input);
  /// The attention vectors folded into the projection: [2H, in] whose row h is W_h^T attn_l[h] and row H + h is
  /// W_h^T attn_r[h], so that x times its transpose gives el and er. Formed so that W's gradient comes in W's own
  /// layout (row-major, or column-major after store_transposed).
  torch::Tensor folded_attention() const;
  /// Whether the layer takes GATConvInput::projected (no residual of its own input).
  bool accepts_projected_input() const;

  GATConvOptions options;
  torch::nn::Linear fc{nullptr};
  torch::Tensor attn_l, attn_r, bias;
  torch::nn::Linear res_fc{nullptr};
  torch::nn::AnyModule norm, activation;

 private:
  friend std::pair<torch::Tensor, torch::Tensor> attention_coefficients(GATConvImpl& conv, const graph::CsrGraph& graph,
                                                                        const torch::Tensor& x);
  // Checks x, applies feature dropout and the projection, then attend.
  std::pair<torch::Tensor, torch::Tensor> project_and_attend(const graph::CsrGraph& graph, const torch::Tensor& x,
                                                             bool with_attention);
  torch::Tensor forward_projected(const graph::CsrGraph& graph, const torch::Tensor& projected,
                                  const torch::Tensor& logits);
  // forward(graph, x).index_select(0, rows) on a square graph, projecting only the rows where the layer allows it.
  torch::Tensor forward_rows(const graph::CsrGraph& graph, const torch::Tensor& x, const torch::Tensor& rows);
  graph::GatAttentionOptions attention_options() const;
  // Attention, aggregation, bias, residual (from h, the dropped-out input), heads, norm, activation.
  // `with_attention` returns the coefficients too (the chain); otherwise the second member is undefined. The
  // logits come from `logits` when given, else from h through folded_attention(), else from `projected`.
  std::pair<torch::Tensor, torch::Tensor> attend(const graph::CsrGraph& graph, const torch::Tensor& projected,
                                                 const torch::Tensor& h, bool with_attention,
                                                 const torch::Tensor& logits = {});
};
TORCH_MODULE(GATConv);

/// For inspection, not training: forward(graph, x) and the attention coefficients [num_edges, heads] (after attention
/// dropout), always through the reference chain, which materialises them.
std::pair<torch::Tensor, torch::Tensor> attention_coefficients(GATConvImpl& conv, const graph::CsrGraph& graph,
                                                               const torch::Tensor& x);

/// Xavier-normal initialisation with a gain, over the fan-in/fan-out torch computes for `w`.
void xavier_normal(torch::Tensor& w, double gain);

}  // namespace graphmae2::models::layers
