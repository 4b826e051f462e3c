#include "graph/ops/segment_softmax.h"

#include "graph/ops/cpu/segment_softmax_kernel.h"
#include "graph/ops/cuda/segment_softmax_bridge.h"
#include "graph/ops/dispatch.h"

#include <ATen/record_function.h>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor forward_on_device(const torch::Tensor& scores, const torch::Tensor& indptr) {
  return dispatch_by_device(
      "segment_softmax", scores, [&] { return cpu::segment_softmax_forward(scores, indptr); },
      [&] { return cuda::segment_softmax_forward(scores, indptr); });
}

torch::Tensor backward_on_device(const torch::Tensor& out, const torch::Tensor& grad_out, const torch::Tensor& indptr) {
  return dispatch_by_device(
      "segment_softmax", out, [&] { return cpu::segment_softmax_backward(out, grad_out, indptr); },
      [&] { return cuda::segment_softmax_backward(out, grad_out, indptr); });
}

class SegmentSoftmax : public torch::autograd::Function<SegmentSoftmax> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& scores, const torch::Tensor& indptr) {
    RECORD_FUNCTION("graphmae2::segment_softmax", std::vector<c10::IValue>({scores, indptr}));
    auto out = forward_on_device(scores, indptr);
    ctx->save_for_backward({out, indptr});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& out = saved[0];
    const auto& indptr = saved[1];
    const auto grad_out = grads[0].contiguous();
    if (torch::GradMode::is_enabled()) {
      // create_graph (double backward): the same formula in differentiable torch ops.
      const int64_t num_rows = indptr.size(0) - 1;
      const auto rows = torch::repeat_interleave(torch::arange(num_rows, indptr.options()), indptr.diff(), /*dim=*/0,
                                                 /*output_size=*/out.size(0));
      const auto yg = out * grad_out;
      const auto dot = torch::zeros({num_rows, out.size(1)}, out.options()).index_add(0, rows, yg);
      return {yg - out * dot.index_select(0, rows), torch::Tensor()};
    }
    return {backward_on_device(out, grad_out, indptr), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor segment_softmax(const torch::Tensor& scores, const CsrGraph& graph) {
  TORCH_CHECK(scores.defined(), "segment_softmax: scores is undefined");
  TORCH_CHECK(scores.dim() == 2, "segment_softmax: scores should be a 2-D [num_edges, H] tensor, got ", scores.dim(),
              "-D with shape ", scores.sizes());
  TORCH_CHECK(scores.size(0) == graph.num_edges(), "segment_softmax: scores has ", scores.size(0),
              " rows but the graph has ", graph.num_edges(), " edges");
  TORCH_CHECK(scores.scalar_type() == torch::kFloat || scores.scalar_type() == torch::kDouble,
              "segment_softmax: scores must be float32 or float64, got ", scores.scalar_type());
  TORCH_CHECK(graph.indptr.defined(), "segment_softmax: the graph is empty (no indptr)");
  TORCH_CHECK(scores.device() == graph.indptr.device(), "segment_softmax: scores on ", scores.device(),
              " but the graph on ", graph.indptr.device());
  TORCH_CHECK(scores.is_cpu() || scores.is_cuda(), "segment_softmax: unsupported device ", scores.device());
  return SegmentSoftmax::apply(scores.contiguous(), graph.indptr.contiguous());
}

}  // namespace graphmae2::graph
