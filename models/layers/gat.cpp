#include "models/layers/gat.h"

namespace graphmae2::models::layers {

GATImpl::GATImpl(GATOptions options_) : options(std::move(options_)) { reset(); }

void GATImpl::reset() {
  const auto& o = options;
  TORCH_CHECK(o.num_layers() >= 1, "GAT: num_layers must be >= 1, got ", o.num_layers());
  layers = register_module("layers", torch::nn::ModuleList());
  auto conv = [&](int64_t in, int64_t out, int64_t heads, bool last) {
    const bool full = !last || o.encoding();
    return GATConv(GATConvOptions(in, out, heads)
                       .concat(o.concat_out())
                       .feat_drop(o.feat_drop())
                       .attn_drop(o.attn_drop())
                       .negative_slope(o.negative_slope())
                       .residual(full && o.residual())
                       .identity_residual(o.identity_residual())
                       .fused_attention(o.fused_attention())
                       .norm(full ? o.norm() : Norm::none)
                       .activation(full ? o.activation() : Activation::none));
  };
  const int64_t hidden_width = o.num_layers() == 1 ? o.out_dim() * o.out_heads() : o.num_hidden() * o.heads();
  TORCH_CHECK(!o.input_skip() || (o.concat_out() && hidden_width == o.out_dim() * o.out_heads()),
              "GAT: input_skip adds layer 0's projection (width ", hidden_width,
              ") to the output, which must have the same width, got ", output_dim());
  if (o.num_layers() == 1) {
    layers->push_back(conv(o.in_dim(), o.out_dim(), o.out_heads(), true));
    return;
  }
  layers->push_back(conv(o.in_dim(), o.num_hidden(), o.heads(), false));
  for (int64_t l = 1; l < o.num_layers() - 1; ++l) {
    layers->push_back(conv(hidden_width, o.num_hidden(), o.heads(), false));
  }
  layers->push_back(conv(hidden_width, o.out_dim(), o.out_heads(), true));
}

int64_t GATImpl::output_dim() const {
  return options.concat_out() ? options.out_heads() * options.out_dim() : options.out_dim();
}

torch::Tensor GATImpl::project_input(const torch::Tensor& x) {
  auto first = first_layer();
  return first->fc(torch::nn::functional::dropout(
      x, torch::nn::functional::DropoutFuncOptions().p(first->options.feat_drop()).training(is_training())));
}

torch::Tensor GATImpl::forward(const graph::CsrGraph& graph, const torch::Tensor& x) {
  if (options.input_skip()) {
    // One projection serves layer 0 and the skip when layer 0 takes it (no residual of its own input).
    if (first_layer()->accepts_projected_input()) return forward_projected(graph, project_input(x));
    auto h = x;
    for (const auto& layer : *layers) h = layer->as<GATConv>()->forward(graph, h);
    return h + project_input(x);
  }
  auto h = x;
  for (const auto& layer : *layers) h = layer->as<GATConv>()->forward(graph, h);
  return h;
}

torch::Tensor GATImpl::forward_projected(const graph::CsrGraph& graph, const torch::Tensor& layer0_projected,
                                         const torch::Tensor& layer0_logits) {
  auto h = first_layer()->forward(graph, GATConvInput::projected(layer0_projected, layer0_logits));
  for (size_t l = 1; l < layers->size(); ++l) h = (*layers)[l]->as<GATConv>()->forward(graph, h);
  return options.input_skip() ? h + layer0_projected : h;
}

torch::Tensor GATImpl::forward_rows(const graph::CsrGraph& graph, const torch::Tensor& x, const torch::Tensor& rows) {
  if (options.input_skip()) return forward(graph, x).index_select(0, rows);
  auto h = x;
  const size_t last = layers->size() - 1;
  for (size_t l = 0; l < last; ++l) h = (*layers)[l]->as<GATConv>()->forward(graph, h);
  return (*layers)[last]->as<GATConv>()->forward(graph, GATConvInput(h).with_rows(rows));
}

GATConv GATImpl::first_layer() const { return GATConv(std::dynamic_pointer_cast<GATConvImpl>((*layers)[0])); }

torch::Tensor GATImpl::forward_blocks(const std::vector<graph::Block>& blocks, const torch::Tensor& x_src) {
  TORCH_CHECK(static_cast<int64_t>(blocks.size()) == options.num_layers(), "GAT: got ", blocks.size(), " blocks for ",
              options.num_layers(), " layers");
  for (size_t l = 1; l < blocks.size(); ++l) {
    TORCH_CHECK(blocks[l].num_src() == blocks[l - 1].num_dst(), "GAT: the blocks do not chain: layer ", l, " has ",
                blocks[l].num_src(), " sources but layer ", l - 1, " has ", blocks[l - 1].num_dst(), " destinations");
  }
  auto h = x_src;
  for (size_t l = 0; l < blocks.size(); ++l) h = (*layers)[l]->as<GATConv>()->forward(blocks[l], h);
  // The last destinations are a prefix of every block's sources, so of x_src's rows.
  return options.input_skip() ? h + project_input(x_src.narrow(0, 0, blocks.back().num_dst())) : h;
}

}  // namespace graphmae2::models::layers
