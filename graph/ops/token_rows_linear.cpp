#include "graph/ops/token_rows_linear.h"

#include <ATen/record_function.h>

#include <vector>

namespace graphmae2::graph {

namespace {

class TokenRowsLinear : public torch::autograd::Function<TokenRowsLinear> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& token,
                               const torch::Tensor& weight_t, const torch::Tensor& keep) {
    RECORD_FUNCTION("graphmae2::token_rows_linear", std::vector<c10::IValue>({token, weight_t, keep}));
    ctx->save_for_backward({token, weight_t, keep});
    return torch::mm(keep, weight_t * token.t());
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& token = saved[0];
    const auto& weight_t = saved[1];
    const auto& keep = saved[2];
    const auto p = torch::mm(keep.t(), grads[0]);  // [F, out], weight_t's layout
    const bool need_token = ctx->needs_input_grad(0), need_weight = ctx->needs_input_grad(1);
    return {need_token ? (p * weight_t).sum(1).reshape({1, -1}) : torch::Tensor(),
            need_weight ? p * token.t() : torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor token_rows_linear(const torch::Tensor& token, const torch::Tensor& weight_t, const torch::Tensor& keep) {
  TORCH_CHECK(token.defined() && weight_t.defined() && keep.defined(),
              "token_rows_linear: token, weight_t and keep must be defined, got ", token.defined(), ", ",
              weight_t.defined(), ", ", keep.defined());
  TORCH_CHECK(token.dim() == 2 && token.size(0) == 1, "token_rows_linear: token has shape ", token.sizes(),
              ", expected [1, F]");
  TORCH_CHECK(weight_t.dim() == 2 && weight_t.size(0) == token.size(1), "token_rows_linear: weight_t has shape ",
              weight_t.sizes(), ", expected [", token.size(1), ", out]");
  TORCH_CHECK(keep.dim() == 2 && keep.size(1) == token.size(1), "token_rows_linear: keep has shape ", keep.sizes(),
              ", expected [rows, ", token.size(1), "]");
  return TokenRowsLinear::apply(token, weight_t, keep);
}

}  // namespace graphmae2::graph
