#include "models/layers/gat_conv.h"

#include "graph/ops/add_row_bias.h"
#include "graph/ops/dropout.h"
#include "graph/ops/gat_attention.h"
#include "graph/ops/head_logits.h"
#include "graph/ops/segment_softmax.h"
#include "graph/ops/spmm.h"
#include "graph/transforms.h"
#include "models/layers/activation.h"

#include <cmath>
#include <tuple>

namespace graphmae2::models::layers {

namespace F = torch::nn::functional;

void xavier_normal(torch::Tensor& w, double gain) {
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_normal_(w, gain);
}

GATConvImpl::GATConvImpl(GATConvOptions options_) : options(std::move(options_)) { reset(); }

void GATConvImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.in_features() > 0 && o.out_features() > 0 && o.heads() > 0, "GATConv: in_features (", o.in_features(),
              "), out_features (", o.out_features(), ") and heads (", o.heads(), ") must be positive");
  TORCH_CHECK(o.feat_drop() >= 0 && o.feat_drop() < 1 && o.attn_drop() >= 0 && o.attn_drop() < 1,
              "GATConv: dropout rates must be in [0, 1), got feat_drop ", o.feat_drop(), ", attn_drop ", o.attn_drop());
  const int64_t width = o.heads() * o.out_features();
  fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(o.in_features(), width).bias(false)));
  attn_l = register_parameter("attn_l", torch::empty({1, o.heads(), o.out_features()}));
  attn_r = register_parameter("attn_r", torch::empty({1, o.heads(), o.out_features()}));
  if (o.bias()) bias = register_parameter("bias", torch::zeros({width}));
  res_fc = nullptr;
  if (o.residual() && o.in_features() != width) {
    res_fc = register_module("res_fc", torch::nn::Linear(torch::nn::LinearOptions(o.in_features(), width).bias(false)));
  }
  const int64_t out_width = o.concat() ? width : o.out_features();
  norm = make_norm(o.norm(), out_width);
  if (!norm.is_empty()) register_module("norm", norm.ptr());
  activation = make_activation(o.activation());
  if (!activation.is_empty()) register_module("activation", activation.ptr());
  reset_parameters();
}

void GATConvImpl::reset_parameters() {
  const double gain = std::sqrt(2.0);  // nn.init.calculate_gain('relu')
  xavier_normal(fc->weight, gain);
  xavier_normal(attn_l, gain);
  xavier_normal(attn_r, gain);
  if (bias.defined()) {
    torch::NoGradGuard no_grad;
    bias.zero_();
  }
  if (res_fc) xavier_normal(res_fc->weight, gain);
}

GATConvInput GATConvInput::projected(torch::Tensor projection, torch::Tensor logits) {
  GATConvInput input{torch::Tensor()};
  input.projection = std::move(projection);
  input.logits = std::move(logits);
  return input;
}

GATConvInput GATConvInput::with_rows(torch::Tensor selected) const {
  GATConvInput input = *this;
  input.rows = std::move(selected);
  return input;
}

torch::Tensor GATConvImpl::forward(const graph::CsrGraph& graph, const GATConvInput& input) {
  TORCH_CHECK(input.x.defined() != input.projection.defined(), "GATConv: the input needs exactly one of x and a ",
              "projection, got ", input.x.defined() ? "both" : "neither");
  if (input.projection.defined()) {
    TORCH_CHECK(!input.rows.defined(), "GATConv: selected rows need the layer input x, not a projection");
    return forward_projected(graph, input.projection, input.logits);
  }
  if (input.rows.defined()) return forward_rows(graph, input.x, input.rows);
  return project_and_attend(graph, input.x, /*with_attention=*/false).first;
}

torch::Tensor GATConvImpl::forward(const graph::Block& block, const GATConvInput& input) {
  const auto& x_src = input.x.defined() ? input.x : input.projection;
  TORCH_CHECK(x_src.defined() && x_src.dim() == 2 && x_src.size(0) == block.num_src(), "GATConv: x_src has shape ",
              x_src.defined() ? x_src.sizes() : torch::IntArrayRef{}, " but the block has ", block.num_src(),
              " sources (", block.summary(), ")");
  TORCH_CHECK(block.graph.num_cols == block.num_src(), "GATConv: the block's graph has ", block.graph.num_cols,
              " source columns but src_ids has ", block.num_src(), " entries");
  return forward(block.graph, input);
}

std::pair<torch::Tensor, torch::Tensor> attention_coefficients(GATConvImpl& conv, const graph::CsrGraph& graph,
                                                               const torch::Tensor& x) {
  return conv.project_and_attend(graph, x, /*with_attention=*/true);
}

std::pair<torch::Tensor, torch::Tensor> GATConvImpl::project_and_attend(const graph::CsrGraph& graph,
                                                                        const torch::Tensor& x, bool with_attention) {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == options.in_features(), "GATConv: input has shape ", x.sizes(),
              ", expected [", graph.num_cols, ", ", options.in_features(), "]");
  TORCH_CHECK(x.size(0) == graph.num_cols, "GATConv: input has ", x.size(0), " rows but the graph has ", graph.num_cols,
              " source nodes");
  auto h = graph::dropout(x, options.feat_drop(), is_training());
  return attend(graph, fc(h), h, with_attention);
}

bool GATConvImpl::accepts_projected_input() const {
  return !res_fc && !(options.residual() && options.identity_residual());
}

torch::Tensor GATConvImpl::forward_projected(const graph::CsrGraph& graph, const torch::Tensor& projected,
                                             const torch::Tensor& logits) {
  TORCH_CHECK(accepts_projected_input(),
              "GATConv: a projected input leaves the layer no input for its residual; pass x instead");
  TORCH_CHECK(projected.dim() == 2 && projected.size(0) == graph.num_cols &&
                  projected.size(1) == options.heads() * options.out_features(),
              "GATConv: projected input has shape ", projected.sizes(), ", expected [", graph.num_cols, ", ",
              options.heads() * options.out_features(), "]");
  TORCH_CHECK(!logits.defined() ||
                  (logits.dim() == 2 && logits.size(0) == graph.num_cols && logits.size(1) == 2 * options.heads()),
              "GATConv: logits have shape ", logits.defined() ? logits.sizes() : torch::IntArrayRef{}, ", expected [",
              graph.num_cols, ", ", 2 * options.heads(), "]");
  return attend(graph, projected, torch::Tensor(), /*with_attention=*/false, logits).first;
}

torch::Tensor GATConvImpl::folded_attention() const {
  const int64_t heads = options.heads(), out = options.out_features();
  const auto& w = fc->weight;                                                                 // [heads * out, in]
  const auto attn = torch::stack({attn_l.view({heads, out}), attn_r.view({heads, out})}, 1);  // [H, 2, out]
  if (w.t().is_contiguous()) {
    // W stored column-major (store_transposed): W^T [in, H * out] times the block-diagonal [H * out, 2H] of the
    // vectors, so that W's gradient (grad x A^T) comes contiguous in W^T's layout, W's own.
    const auto eye = torch::eye(heads, w.options()).view({heads, 1, 1, heads});
    const auto blocks = attn.permute({0, 2, 1}).unsqueeze(3) * eye;  // [H, out, 2, H]
    return torch::mm(w.t(), blocks.reshape({heads * out, 2 * heads})).t();
  }
  // One batched product [H, 2, out] x [H, out, in]; W's gradient comes row-major, W's own layout.
  return torch::bmm(attn, w.view({heads, out, -1})).transpose(0, 1).reshape({2 * heads, -1});
}

torch::Tensor GATConvImpl::forward_rows(const graph::CsrGraph& graph, const torch::Tensor& x,
                                        const torch::Tensor& rows) {
  const auto& o = options;
  TORCH_CHECK(graph.is_square(), "GATConv: selected rows need a square graph, got ", graph.summary());
  if (o.heads() != 1 || !accepts_projected_input() || o.norm() != Norm::none) {
    return project_and_attend(graph, x, /*with_attention=*/false).first.index_select(0, rows);
  }
  TORCH_CHECK(x.dim() == 2 && x.size(0) == graph.num_cols && x.size(1) == o.in_features(), "GATConv: input has shape ",
              x.sizes(), ", expected [", graph.num_cols, ", ", o.in_features(), "]");
  // One head: sum_j a_ij W h_j = W sum_j a_ij h_j and <W h_j, a> = <h_j, W^T a>, so only the selected rows
  // are projected (the decoder's output width is the input's, 1433 on Cora: the costly product).
  auto h = graph::dropout(x, o.feat_drop(), is_training());
  // The selected rows' edges over the parent's node ids: h and the logits are used as they are. (Gathering h's
  // rows for a relabelled block cost a copy forward, and backward a zero-filled [N, in] gradient, a scatter into
  // it and its sum with h's other gradients.)
  const auto rows_graph = graph::select_row_edges(graph, rows);
  const auto& w = fc->weight;  // [out, in]
  // a^T W for both vectors as [2, out] x [out, in] (W's gradient then comes in W's own layout), then el and er of
  // every node from one [N, in] x [in, 2] product; er is read at the selected rows only.
  const int64_t width = o.out_features();
  const auto folded = torch::mm(torch::cat({attn_l.view({1, width}), attn_r.view({1, width})}), w);  // [2, in]
  const auto both = torch::mm(h, folded.t());
  const auto el = both.narrow(1, 0, 1);
  const auto er = both.narrow(1, 1, 1).index_select(0, rows);
  torch::Tensor aggregated;
  if (o.fused_attention()) {
    aggregated = graph::gat_attention(rows_graph, h.unsqueeze(1), el, er, attention_options());
  } else {
    auto e = el.index_select(0, rows_graph.indices) + er.index_select(0, rows_graph.row_ids());
    e = F::leaky_relu(e, F::LeakyReLUFuncOptions().negative_slope(o.negative_slope()));
    auto a = graph::segment_softmax(e, rows_graph);
    a = F::dropout(a, F::DropoutFuncOptions().p(o.attn_drop()).training(is_training()));
    aggregated = graph::spmm(rows_graph, a, h.unsqueeze(1));
  }
  auto rst = torch::mm(aggregated.squeeze(1), w.t());
  if (bias.defined()) rst = graph::add_row_bias_(rst, bias);
  if (!activation.is_empty()) rst = activation.forward(rst);
  return rst;
}

graph::GatAttentionOptions GATConvImpl::attention_options() const {
  return graph::GatAttentionOptions()
      .negative_slope(options.negative_slope())
      .dropout(is_training() ? options.attn_drop() : 0.0);
}

std::pair<torch::Tensor, torch::Tensor> GATConvImpl::attend(const graph::CsrGraph& graph,
                                                            const torch::Tensor& projected, const torch::Tensor& h,
                                                            bool with_attention, const torch::Tensor& logits) {
  const auto& o = options;
  TORCH_CHECK(graph.num_rows() <= graph.num_cols, "GATConv: graph has ", graph.num_rows(),
              " destination rows but only ", graph.num_cols, " source nodes");
  const int64_t heads = o.heads(), out = o.out_features(), num_dst = graph.num_rows();
  auto feat_src = projected.view({-1, heads, out});
  torch::Tensor el, er;  // [num_src, heads], [num_dst, heads]
  if (logits.defined() || h.defined()) {
    // <W_k h_s, a_k> = <h_s, W_k^T a_k>: the attention vectors folded into the projection give the logits as a
    // [N, in] x [in, H] product, with no [N, H, D] product (or its gradient) in between. el and er come from one
    // [N, in] x [in, 2H] product (er's rows are the first num_dst): half the calls of two, each a narrow product
    // that runs far below the GEMM rate. Given `logits`, the caller made that product (the sparse first layer).
    const auto both = logits.defined() ? logits : torch::mm(h, folded_attention().t());
    el = both.narrow(1, 0, heads);
    er = both.narrow(1, heads, heads).narrow(0, 0, num_dst);
  } else {
    std::tie(el, er) = graph::head_logits(feat_src, attn_l, attn_r, num_dst);
  }
  torch::Tensor rst, a;  // rst: [num_dst, heads, out]
  if (o.fused_attention() && !with_attention) {
    // The bias goes in with the sum (on the CPU, written with each output row: no pass of its own).
    rst = graph::gat_attention(graph, feat_src, el, er, attention_options(), bias);
  } else {
    auto e = el.index_select(0, graph.indices) + er.index_select(0, graph.row_ids());
    e = F::leaky_relu(e, F::LeakyReLUFuncOptions().negative_slope(o.negative_slope()));
    a = graph::segment_softmax(e, graph);
    a = F::dropout(a, F::DropoutFuncOptions().p(o.attn_drop()).training(is_training()));
    rst = graph::spmm(graph, a, feat_src);
    if (bias.defined()) rst = rst + bias.view({1, heads, out});
  }
  if (res_fc) {
    auto h_dst = num_dst == graph.num_cols ? h : h.narrow(0, 0, num_dst);
    rst = rst + res_fc(h_dst).view({num_dst, heads, out});
  } else if (o.residual() && o.identity_residual()) {
    auto h_dst = num_dst == graph.num_cols ? h : h.narrow(0, 0, num_dst);
    rst = rst + h_dst.view({num_dst, heads, out});
  }
  rst = o.concat() ? rst.flatten(1) : rst.mean(1);
  if (!norm.is_empty()) rst = norm.forward(rst);
  if (!activation.is_empty()) rst = activation.forward(rst);
  return {rst, a};
}

}  // namespace graphmae2::models::layers
