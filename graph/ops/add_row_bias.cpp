#include "graph/ops/add_row_bias.h"

namespace graphmae2::graph {

namespace {

class AddRowBias : public torch::autograd::Function<AddRowBias> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, const torch::Tensor& bias) {
    ctx->mark_dirty({x});
    ctx->saved_data["bias_sizes"] = bias.sizes().vec();
    return x.add_(bias);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto& grad = grads[0];
    const auto ones = torch::ones({1, grad.size(0)}, grad.options());
    const auto bias_sizes = ctx->saved_data["bias_sizes"].toIntVector();
    return {grad, torch::mm(ones, grad).view(bias_sizes)};
  }
};

}  // namespace

torch::Tensor add_row_bias_(torch::Tensor x, const torch::Tensor& bias) {
  TORCH_CHECK(x.defined() && bias.defined(), "add_row_bias_: x and bias must be defined, got ", x.defined(), ", ",
              bias.defined());
  TORCH_CHECK(x.dim() == 2, "add_row_bias_: x should be a 2-D [N, W] tensor, got ", x.dim(), "-D with shape ",
              x.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == x.size(1), "add_row_bias_: bias should be [", x.size(1),
              "] (x's width), got ", bias.sizes());
  TORCH_CHECK(bias.scalar_type() == x.scalar_type() && bias.device() == x.device(), "add_row_bias_: x is ",
              x.scalar_type(), " on ", x.device(), ", bias is ", bias.scalar_type(), " on ", bias.device());
  return AddRowBias::apply(std::move(x), bias);
}

}  // namespace graphmae2::graph
