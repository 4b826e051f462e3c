#include "graph/ops/csr_projection.h"

#include "graph/ops/cpu/csr_projection_kernel.h"
#include "graph/ops/spmm.h"

#include <ATen/record_function.h>

#include <vector>

namespace graphmae2::graph {

namespace {

// The values are data (dropped, masked features): they get no gradient on this path.
class CsrProjection : public torch::autograd::Function<CsrProjection> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& values,
                               const torch::Tensor& weight_t, const torch::Tensor& indptr,
                               const torch::Tensor& indices) {
    RECORD_FUNCTION("graphmae2::csr_projection", std::vector<c10::IValue>({values, weight_t, indices}));
    ctx->save_for_backward({indptr, indices, values});
    ctx->saved_data["num_cols"] = weight_t.size(0);
    return cpu::csr_projection_forward(indptr, indices, values, weight_t);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    if (!ctx->needs_input_grad(1)) return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    const auto saved = ctx->get_saved_variables();
    const int64_t num_cols = ctx->saved_data["num_cols"].toInt();
    auto grad_weight_t = cpu::csr_projection_backward(saved[0], saved[1], saved[2], grads[0].contiguous(), num_cols);
    return {torch::Tensor(), grad_weight_t, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor csr_projection(const CsrGraph& pattern, const torch::Tensor& values, const torch::Tensor& weight_t) {
  TORCH_CHECK(pattern.indptr.defined(), "csr_projection: the pattern is empty (no indptr)");
  TORCH_CHECK(values.defined() && weight_t.defined(), "csr_projection: values and weight_t must be defined, got ",
              values.defined(), ", ", weight_t.defined());
  TORCH_CHECK(values.dim() == 1 && values.size(0) == pattern.num_edges(), "csr_projection: values should be [",
              pattern.num_edges(), "] (the pattern's non-zeros), got ", values.sizes());
  TORCH_CHECK(weight_t.dim() == 2 && weight_t.size(0) == pattern.num_cols, "csr_projection: weight_t should be [",
              pattern.num_cols, ", out] (the pattern's columns), got ", weight_t.sizes());
  TORCH_CHECK(values.scalar_type() == weight_t.scalar_type(), "csr_projection: values are ", values.scalar_type(),
              " but weight_t is ", weight_t.scalar_type());
  TORCH_CHECK(values.device() == weight_t.device() && values.device() == pattern.indptr.device(),
              "csr_projection: values on ", values.device(), ", weight_t on ", weight_t.device(), ", pattern on ",
              pattern.indptr.device());
  const bool cpu_product = values.is_cpu() && weight_t.is_cpu() && !values.requires_grad() &&
                           (values.scalar_type() == torch::kFloat || values.scalar_type() == torch::kDouble);
  if (cpu_product) return CsrProjection::apply(values, weight_t, pattern.indptr, pattern.indices);
  // Off the CPU product (CUDA: the model's path there): graph::spmm, which also differentiates the values.
  return spmm(pattern, values.unsqueeze(1), weight_t.unsqueeze(1)).squeeze(1);
}

}  // namespace graphmae2::graph
