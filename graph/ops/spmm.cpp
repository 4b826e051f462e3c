#include "graph/ops/spmm.h"

#include "graph/ops/cpu/spmm_kernel.h"
#include "graph/ops/cuda/spmm_bridge.h"
#include "graph/ops/dispatch.h"

#include <ATen/record_function.h>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor forward_on_device(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& w,
                                const torch::Tensor& x) {
  return dispatch_by_device(
      "spmm", x, [&] { return cpu::spmm_forward(indptr, indices, w, x); },
      [&] { return cuda::spmm_forward(indptr, indices, w, x); });
}

torch::Tensor weights_grad_on_device(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& x,
                                     const torch::Tensor& grad_out) {
  return dispatch_by_device(
      "spmm", x, [&] { return cpu::spmm_backward_weights(indptr, indices, x, grad_out); },
      [&] { return cuda::spmm_backward_weights(indptr, indices, x, grad_out); });
}

torch::Tensor x_grad_on_device(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& w,
                               const torch::Tensor& grad_out, int64_t num_cols) {
  return dispatch_by_device(
      "spmm", w, [&] { return cpu::spmm_backward_x(indptr, indices, w, grad_out, num_cols); },
      [&] { return cuda::spmm_backward_x(indptr, indices, w, grad_out, num_cols); });
}

class Spmm : public torch::autograd::Function<Spmm> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& indptr, const torch::Tensor& indices,
                               const torch::Tensor& weights, const torch::Tensor& x) {
    RECORD_FUNCTION("graphmae2::spmm", std::vector<c10::IValue>({indices, weights, x}));
    ctx->save_for_backward({indptr, indices, weights, x});
    return forward_on_device(indptr, indices, weights, x);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &indptr = saved[0], &indices = saved[1], &weights = saved[2], &x = saved[3];
    const auto grad_out = grads[0].contiguous();
    torch::Tensor grad_w, grad_x;
    if (torch::GradMode::is_enabled()) {
      // create_graph (double backward): differentiable formulas; the x gradient is spmm on the transpose.
      const int64_t num_rows = indptr.size(0) - 1;
      const auto rows = torch::repeat_interleave(torch::arange(num_rows, indptr.options()), indptr.diff(), /*dim=*/0,
                                                 /*output_size=*/indices.size(0));
      if (ctx->needs_input_grad(2)) {
        grad_w = (grad_out.index_select(0, rows) * x.index_select(0, indices)).sum(-1);
      }
      if (ctx->needs_input_grad(3)) {
        grad_x = torch::zeros_like(x).index_add(0, indices, grad_out.index_select(0, rows) * weights.unsqueeze(-1));
      }
    } else {
      if (ctx->needs_input_grad(2)) grad_w = weights_grad_on_device(indptr, indices, x, grad_out);
      if (ctx->needs_input_grad(3)) grad_x = x_grad_on_device(indptr, indices, weights, grad_out, x.size(0));
    }
    return {torch::Tensor(), torch::Tensor(), grad_w, grad_x};
  }
};

}  // namespace

torch::Tensor spmm(const CsrGraph& graph, const torch::Tensor& edge_weights, const torch::Tensor& x) {
  TORCH_CHECK(edge_weights.defined(), "spmm: edge_weights is undefined");
  TORCH_CHECK(x.defined(), "spmm: x is undefined");
  TORCH_CHECK(graph.indptr.defined(), "spmm: the graph is empty (no indptr)");
  TORCH_CHECK(edge_weights.dim() == 2, "spmm: edge_weights should be a 2-D [num_edges, H] tensor, got ",
              edge_weights.dim(), "-D with shape ", edge_weights.sizes());
  TORCH_CHECK(x.dim() == 3, "spmm: x should be a 3-D [num_cols, H, F] tensor, got ", x.dim(), "-D with shape ",
              x.sizes());
  TORCH_CHECK(edge_weights.size(0) == graph.num_edges(), "spmm: edge_weights has ", edge_weights.size(0),
              " rows but the graph has ", graph.num_edges(), " edges");
  TORCH_CHECK(x.size(0) == graph.num_cols, "spmm: x has ", x.size(0), " rows but the graph has ", graph.num_cols,
              " columns");
  TORCH_CHECK(x.size(1) == edge_weights.size(1), "spmm: x has ", x.size(1), " heads but edge_weights has ",
              edge_weights.size(1));
  TORCH_CHECK(x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble,
              "spmm: x must be float32 or float64, got ", x.scalar_type());
  TORCH_CHECK(edge_weights.scalar_type() == x.scalar_type(), "spmm: edge_weights is ", edge_weights.scalar_type(),
              " but x is ", x.scalar_type());
  TORCH_CHECK(x.device() == edge_weights.device() && x.device() == graph.indptr.device(), "spmm: x on ", x.device(),
              ", edge_weights on ", edge_weights.device(), ", graph on ", graph.indptr.device());
  TORCH_CHECK(x.is_cpu() || x.is_cuda(), "spmm: unsupported device ", x.device());
  return Spmm::apply(graph.indptr.contiguous(), graph.indices.contiguous(), edge_weights.contiguous(), x.contiguous());
}

}  // namespace graphmae2::graph
