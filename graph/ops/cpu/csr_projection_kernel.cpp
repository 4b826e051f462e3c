#include "graph/ops/cpu/csr_projection_kernel.h"

#include "graph/csr_graph.h"
#include "graph/transforms.h"

namespace graphmae2::graph::cpu {

namespace {

// A CSR tensor over the pattern. LibTorch warns once per process that sparse CSR support is in beta; that is not
// the user's concern, so the warning is dropped here.
torch::Tensor csr_tensor(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& values,
                         int64_t rows, int64_t cols) {
  struct Silent : c10::WarningHandler {
    void process(const c10::Warning&) override {}
  } silent;
  c10::WarningUtils::WarningHandlerGuard guard(&silent);
  return torch::sparse_csr_tensor(indptr, indices, values, {rows, cols}, values.options().layout(torch::kSparseCsr));
}

// sparse x dense into a fresh tensor. torch::mm on a CSR operand zero-fills a tensor and copies it into the result
// before the product (two passes over the output); addmm with beta 0 ignores its input, NaN included (documented),
// and writes the product only.
torch::Tensor csr_product(const torch::Tensor& sparse, const torch::Tensor& dense) {
  auto out = torch::empty({sparse.size(0), dense.size(1)}, dense.options());
  return torch::addmm_out(out, out, sparse, dense, /*beta=*/0, /*alpha=*/1);
}

}  // namespace

torch::Tensor csr_projection_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                     const torch::Tensor& values, const torch::Tensor& dense) {
  return csr_product(csr_tensor(indptr, indices, values, indptr.size(0) - 1, dense.size(0)), dense);
}

torch::Tensor csr_projection_backward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                      const torch::Tensor& values, const torch::Tensor& grad, int64_t num_cols) {
  // The transpose's rows keep the pattern's row order, so each gradient entry sums in the forward's order.
  const auto t = reverse(CsrGraph(indptr, indices, num_cols, values, /*validate=*/false));
  const auto x_t = csr_tensor(t.indptr, t.indices, *t.weights, num_cols, t.num_cols);
  return csr_product(x_t, grad);
}

}  // namespace graphmae2::graph::cpu
