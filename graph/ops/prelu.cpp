#include "graph/ops/prelu.h"

#include "graph/ops/cpu/prelu_kernel.h"

#include <ATen/record_function.h>

#include <vector>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class Prelu : public torch::autograd::Function<Prelu> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight) {
    RECORD_FUNCTION("graphmae2::prelu", std::vector<c10::IValue>({x, weight}));
    ctx->save_for_backward({x, weight});
    return cpu::prelu_forward(x.contiguous(), weight);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    if (torch::GradMode::is_enabled()) {  // double backward: torch's differentiable formula
      const auto positive = x > 0;
      return {torch::where(positive, grads[0], weight * grads[0]),
              torch::where(positive, torch::zeros_like(x), x * grads[0]).sum().reshape({1})};
    }
    auto [grad_x, grad_weight] = cpu::prelu_backward(x.contiguous(), grads[0].contiguous(), weight);
    return {grad_x, grad_weight};
  }
};

}  // namespace

torch::Tensor prelu(const torch::Tensor& x, const torch::Tensor& weight) {
  TORCH_CHECK(x.defined(), "prelu: x is undefined");
  TORCH_CHECK(weight.defined(), "prelu: weight is undefined");
  TORCH_CHECK(weight.dim() == 1 && weight.size(0) == 1, "prelu: weight should be a single slope of shape [1], got ",
              weight.sizes());
  const auto dtype = x.scalar_type();
  const bool kernel = x.is_cpu() && weight.is_cpu() && (dtype == torch::kFloat || dtype == torch::kDouble) &&
                      weight.scalar_type() == dtype;
  // Other dtypes and devices (CUDA: the model's path there) run ATen's prelu, which has its own kernels.
  return kernel ? Prelu::apply(x, weight) : torch::prelu(x, weight);
}

}  // namespace graphmae2::graph
