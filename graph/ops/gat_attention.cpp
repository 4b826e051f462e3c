#include "graph/ops/gat_attention.h"

#include "graph/ops/cpu/gat_attention_kernel.h"
#include "graph/ops/cuda/gat_attention_bridge.h"
#include "graph/ops/dispatch.h"
#include "graph/ops/philox_inputs.h"

#include <ATen/record_function.h>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class GatAttention : public torch::autograd::Function<GatAttention> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& indptr, const torch::Tensor& indices,
                               const torch::Tensor& feat, const torch::Tensor& el, const torch::Tensor& er,
                               const torch::Tensor& bias, double negative_slope, double dropout, int64_t seed,
                               int64_t offset, bool save_attention) {
    RECORD_FUNCTION("graphmae2::gat_attention", std::vector<c10::IValue>({indices, feat, el, er}));
    const cpu::GatAttentionParams params{negative_slope, dropout, static_cast<uint64_t>(seed),
                                         static_cast<uint64_t>(offset)};
    const bool has_bias = bias.dim() == 2;  // else the empty stand-in
    // The CPU forward keeps each edge's attention (and keep flags) when a backward will follow; the CUDA backward
    // recomputes them from lse, as its lanes have the exponentials and Philox draws to spare.
    auto result = dispatch_by_device(
        "gat_attention", feat,
        [&] {
          return cpu::gat_attention_forward(indptr, indices, feat, el, er, has_bias ? bias : torch::Tensor(), params,
                                            save_attention);
        },
        [&] {
          auto [out, lse] =
              cuda::gat_attention_forward(indptr, indices, feat, el, er, has_bias ? bias : torch::Tensor(), params);
          return cpu::GatAttentionForward{out, lse, torch::Tensor(), torch::Tensor()};
        });
    // Backward rebuilds <grad_out, out> from its per-edge products: the output is not kept.
    ctx->save_for_backward({indptr, indices, feat, el, er, result.lse, result.attention, result.kept});
    ctx->saved_data["negative_slope"] = negative_slope;
    ctx->saved_data["dropout"] = dropout;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["has_bias"] = has_bias;
    return result.out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "gat_attention: double backward (create_graph) is not supported; build the layer with "
                "GATConvOptions::fused_attention(false) for it");
    const auto saved = ctx->get_saved_variables();
    const auto &indptr = saved[0], &indices = saved[1], &feat = saved[2], &el = saved[3], &er = saved[4],
               &lse = saved[5], &attention = saved[6], &kept = saved[7];
    const cpu::GatAttentionParams params{ctx->saved_data["negative_slope"].toDouble(),
                                         ctx->saved_data["dropout"].toDouble(),
                                         static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                                         static_cast<uint64_t>(ctx->saved_data["offset"].toInt())};
    const auto grad_out = grads[0].contiguous();
    const bool needs_feat = ctx->needs_input_grad(2);
    auto [grad_feat, grad_el, grad_er] = dispatch_by_device(
        "gat_attention", feat,
        [&] {
          return cpu::gat_attention_backward(indptr, indices, feat, el, er, attention, kept, grad_out, params,
                                             needs_feat);
        },
        [&] { return cuda::gat_attention_backward(indptr, indices, feat, el, er, lse, grad_out, params, needs_feat); });
    torch::Tensor grad_bias;
    if (ctx->saved_data["has_bias"].toBool() && ctx->needs_input_grad(5)) {
      grad_bias = grad_out.sum(0).view({feat.size(1), feat.size(2)});
    }
    return {torch::Tensor(), torch::Tensor(), grad_feat,       grad_el,         grad_er,        grad_bias,
            torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor gat_attention(const CsrGraph& graph, const torch::Tensor& feat, const torch::Tensor& el,
                            const torch::Tensor& er, const GatAttentionOptions& options, const torch::Tensor& bias) {
  TORCH_CHECK(graph.indptr.defined(), "gat_attention: the graph is empty (no indptr)");
  TORCH_CHECK(feat.defined() && el.defined() && er.defined(), "gat_attention: feat, el and er must be defined");
  TORCH_CHECK(feat.dim() == 3, "gat_attention: feat should be [num_cols, H, D], got shape ", feat.sizes());
  const int64_t H = feat.size(1);
  TORCH_CHECK(feat.size(0) == graph.num_cols, "gat_attention: feat has ", feat.size(0), " rows but the graph has ",
              graph.num_cols, " source columns");
  TORCH_CHECK(el.dim() == 2 && el.size(0) == graph.num_cols && el.size(1) == H, "gat_attention: el has shape ",
              el.sizes(), ", expected [", graph.num_cols, ", ", H, "]");
  TORCH_CHECK(er.dim() == 2 && er.size(0) == graph.num_rows() && er.size(1) == H, "gat_attention: er has shape ",
              er.sizes(), ", expected [", graph.num_rows(), ", ", H, "]");
  TORCH_CHECK(el.scalar_type() == feat.scalar_type() && er.scalar_type() == feat.scalar_type(),
              "gat_attention: feat is ", feat.scalar_type(), " but el is ", el.scalar_type(), " and er is ",
              er.scalar_type());
  TORCH_CHECK(feat.device() == el.device() && feat.device() == er.device() && feat.device() == graph.indptr.device(),
              "gat_attention: feat on ", feat.device(), ", el on ", el.device(), ", er on ", er.device(), ", graph on ",
              graph.indptr.device());
  check_float_kernel_input("gat_attention", "feat", feat);
  TORCH_CHECK(!bias.defined() || (bias.numel() == H * feat.size(2) && bias.scalar_type() == feat.scalar_type() &&
                                  bias.device() == feat.device()),
              "gat_attention: bias should be ", H * feat.size(2), " ", feat.scalar_type(), " values (H x D) on ",
              feat.device(), ", got ", bias.sizes(), " ", bias.scalar_type(), " on ", bias.device());
  TORCH_CHECK(options.negative_slope() >= 0, "gat_attention: negative_slope must be >= 0, got ",
              options.negative_slope());
  TORCH_CHECK(options.dropout() >= 0 && options.dropout() < 1, "gat_attention: dropout must be in [0, 1), got ",
              options.dropout());
  std::pair<uint64_t, uint64_t> philox{0, 0};
  if (options.dropout() > 0) {
    philox = options.seed() ? std::pair{*options.seed(), uint64_t{0}} : draw_philox_inputs("gat_attention", feat);
  }
  // Inside the autograd function grad mode is off, so whether a backward can follow is decided here.
  const bool backward_follows =
      torch::GradMode::is_enabled() && (feat.requires_grad() || el.requires_grad() || er.requires_grad());
  return GatAttention::apply(
      graph.indptr.contiguous(), graph.indices.contiguous(), feat.contiguous(), el.contiguous(), er.contiguous(),
      // No bias: an empty tensor (a custom function's inputs must be defined).
      bias.defined() ? bias.reshape({H, feat.size(2)}).contiguous() : feat.new_empty({0}), options.negative_slope(),
      options.dropout(), static_cast<int64_t>(philox.first), static_cast<int64_t>(philox.second), backward_follows);
}

}  // namespace graphmae2::graph
