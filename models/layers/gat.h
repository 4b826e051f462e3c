#pragma once
// A stack of GATConv layers with the GraphMAE2 reference's topology.

#include "models/layers/gat_conv.h"

namespace graphmae2::models::layers {

struct GATOptions {
  GATOptions(int64_t in_dim, int64_t num_hidden, int64_t out_dim, int64_t num_layers)
      : in_dim_(in_dim), num_hidden_(num_hidden), out_dim_(out_dim), num_layers_(num_layers) {}
  TORCH_ARG(int64_t, in_dim);
  TORCH_ARG(int64_t, num_hidden);  ///< per head, hidden layers
  TORCH_ARG(int64_t, out_dim);     ///< per head, last layer
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(int64_t, heads) = 4;
  TORCH_ARG(int64_t, out_heads) = 1;
  TORCH_ARG(bool, concat_out) = true;
  TORCH_ARG(Activation, activation) = Activation::prelu;
  TORCH_ARG(double, feat_drop) = 0.2;
  TORCH_ARG(double, attn_drop) = 0.1;
  TORCH_ARG(double, negative_slope) = 0.2;
  TORCH_ARG(bool, residual) = false;
  TORCH_ARG(bool, identity_residual) = false;
  TORCH_ARG(bool, fused_attention) = true;  ///< GATConvOptions::fused_attention of every layer
  TORCH_ARG(Norm, norm) = Norm::none;
  /// Encoding: the last layer gets activation, residual and norm too; decoding: it gets none of them.
  TORCH_ARG(bool, encoding) = true;
  /// Adds layer 0's input projection fc(dropout(x)) to the output: every node keeps its own features, which
  /// attention over many neighbours of other classes averages away (GraphMAE2's collapse on dense heterophilous
  /// graphs, docs/diagnostics.md). Needs layer 0's width to equal the output's (GraphMAE2's encoders).
  TORCH_ARG(bool, input_skip) = false;
};

/// @brief GAT encoder or decoder: layer 0 in_dim -> heads x num_hidden, middle layers keep that width,
/// the last layer -> out_heads x out_dim (a single layer maps in_dim -> out_heads x out_dim directly).
class GATImpl : public torch::nn::Cloneable<GATImpl> {
 public:
  explicit GATImpl(GATOptions options);
  void reset() override;

  /// x: [num_nodes, in_dim]. Returns [num_nodes, out_heads * out_dim] (concat_out) on the full graph.
  torch::Tensor forward(const graph::CsrGraph& graph, const torch::Tensor& x);
  /// Same, with layer 0's input projection fc(dropout(x)) given ([num_nodes, heads * num_hidden], e.g. from
  /// masked_sparse_linear); needs a layer 0 without residual (first_layer()->accepts_projected_input()).
  /// layer0_logits (optional): layer 0's attention logits made with that projection (GATConvInput::projected).
  torch::Tensor forward_projected(const graph::CsrGraph& graph, const torch::Tensor& layer0_projected,
                                  const torch::Tensor& layer0_logits = {});
  GATConv first_layer() const;
  /// Layer 0's input projection fc(dropout(x)) (dropout in training mode only): what input_skip adds.
  torch::Tensor project_input(const torch::Tensor& x);
  /// forward(graph, x).index_select(0, rows), with the last layer evaluated at those rows only
  /// (GATConvInput::with_rows): the decoder needs its output at the masked nodes alone.
  torch::Tensor forward_rows(const graph::CsrGraph& graph, const torch::Tensor& x, const torch::Tensor& rows);
  /// Mini-batch form: one graph::Block per layer, block l mapping layer l's sources to its destinations, so
  /// block l's sources are block l-1's destinations (num_src == the previous num_dst; throws naming the layer).
  /// x_src: [blocks[0].num_src(), in_dim]. Returns [blocks.back().num_dst(), output_dim()].
  torch::Tensor forward_blocks(const std::vector<graph::Block>& blocks, const torch::Tensor& x_src);
  /// Output width: out_heads * out_dim when concatenating, else out_dim.
  int64_t output_dim() const;

  GATOptions options;
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(GAT);

}  // namespace graphmae2::models::layers
