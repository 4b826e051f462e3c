#include "models/layers/sparse_features.h"

#include "graph/ops/dropout.h"
#include "graph/ops/spmm.h"
#include "graph/transforms.h"

#include <ATen/record_function.h>

namespace graphmae2::models::layers {

SparseFeatures SparseFeatures::from_dense(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 2, "SparseFeatures: expected a 2-D feature matrix, got shape ", x.sizes());
  TORCH_CHECK(x.is_floating_point(), "SparseFeatures: expected float features, got ", x.scalar_type());
  const auto nz = x.nonzero();  // [nnz, 2], row-major order: rows ascending, columns ascending within a row
  SparseFeatures out;
  const auto rows = nz.select(1, 0).contiguous();
  const auto cols = nz.select(1, 1).contiguous();
  const auto counts = torch::bincount(rows, /*weights=*/{}, /*minlength=*/x.size(0));
  out.pattern = graph::CsrGraph(graph::indptr_from_counts(counts), cols, x.size(1));
  out.values = x.index({rows, cols}).contiguous();
  return out;
}

double SparseFeatures::density() const {
  const double cells = static_cast<double>(num_rows()) * static_cast<double>(num_features());
  return cells > 0 ? static_cast<double>(values.numel()) / cells : 0.0;
}

SparseFeatures SparseFeatures::to(const torch::Device& device) const {
  return SparseFeatures{pattern.to(device), values.to(device)};
}

torch::Tensor SparseFeatures::to_dense() const {
  auto out = torch::zeros({num_rows(), num_features()}, values.options());
  out.index_put_({pattern.row_ids(), pattern.indices}, values);
  return out;
}

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

// x's product with weight^T on the CPU through LibTorch's sparse CSR product, and the weight's gradient as the
// transposed pattern's product. Timed alone on two threads at Cora's size: 3.9 ms each, against 6.4 and 8.4 ms
// for graph::spmm's forward and backward (which gathers a 4 KiB row per non-zero), with the same sums (bit for
// bit there: each output entry adds its terms in pattern order). The values are data (dropped, masked features):
// they get no gradient.
class CsrProjection : public torch::autograd::Function<CsrProjection> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& values,
                               const torch::Tensor& weight_t, const torch::Tensor& indptr,
                               const torch::Tensor& indices) {
    RECORD_FUNCTION("graphmae2::csr_projection", std::vector<c10::IValue>({values, weight_t, indices}));
    ctx->save_for_backward({indptr, indices, values});
    ctx->saved_data["num_cols"] = weight_t.size(0);
    return csr_product(csr_tensor(indptr, indices, values, indptr.size(0) - 1, weight_t.size(0)), weight_t);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    if (!ctx->needs_input_grad(1)) return {torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
    const auto saved = ctx->get_saved_variables();
    const int64_t num_cols = ctx->saved_data["num_cols"].toInt();
    // The transpose's rows keep the pattern's row order, so each gradient entry sums in the forward's order.
    const auto t = graph::reverse(graph::CsrGraph(saved[0], saved[1], num_cols, saved[2], /*validate=*/false));
    const auto x_t = csr_tensor(t.indptr, t.indices, *t.weights, num_cols, t.num_cols);
    return {torch::Tensor(), csr_product(x_t, grads[0].contiguous()), torch::Tensor(), torch::Tensor()};
  }
};

// h = x weight^T from the stored values and weight^T ([F, out]).
torch::Tensor project(const SparseFeatures& x, const torch::Tensor& values, const torch::Tensor& weight_t) {
  const bool csr_product = values.is_cpu() && weight_t.is_cpu() && !values.requires_grad() &&
                           (values.scalar_type() == torch::kFloat || values.scalar_type() == torch::kDouble);
  if (csr_product) return CsrProjection::apply(values, weight_t, x.pattern.indptr, x.pattern.indices);
  return graph::spmm(x.pattern, values.unsqueeze(1), weight_t.unsqueeze(1)).squeeze(1);
}

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
  TORCH_CHECK(token.dim() == 2 && token.size(0) == 1, "token_rows_linear: token has shape ", token.sizes(),
              ", expected [1, F]");
  TORCH_CHECK(weight_t.dim() == 2 && weight_t.size(0) == token.size(1), "token_rows_linear: weight_t has shape ",
              weight_t.sizes(), ", expected [", token.size(1), ", out]");
  TORCH_CHECK(keep.dim() == 2 && keep.size(1) == token.size(1), "token_rows_linear: keep has shape ", keep.sizes(),
              ", expected [rows, ", token.size(1), "]");
  return TokenRowsLinear::apply(token, weight_t, keep);
}

std::vector<torch::Tensor> masked_sparse_linear(const SparseFeatures& x, const std::vector<torch::Tensor>& weights,
                                                const torch::Tensor& token_nodes, const torch::Tensor& token,
                                                double dropout, bool training) {
  TORCH_CHECK(!weights.empty(), "masked_sparse_linear: no weights given");
  for (size_t k = 0; k < weights.size(); ++k) {
    TORCH_CHECK(weights[k].dim() == 2 && weights[k].size(1) == x.num_features(), "masked_sparse_linear: weight ", k,
                " has shape ", weights[k].sizes(), ", expected [out, ", x.num_features(), "]");
  }
  TORCH_CHECK(dropout >= 0 && dropout < 1, "masked_sparse_linear: dropout must be in [0, 1), got ", dropout);
  const bool replace = token_nodes.defined() && token_nodes.numel() > 0;
  TORCH_CHECK(!replace || !token.defined() || (token.dim() == 2 && token.size(0) == 1 &&
                                               token.size(1) == x.num_features()),
              "masked_sparse_linear: token has shape ", token.sizes(), ", expected [1, ", x.num_features(), "]");
  auto values = x.values;
  if (replace) {
    // The replaced rows contribute only through the token below.
    auto keep = torch::ones({x.num_rows()}, values.options());
    keep.index_fill_(0, token_nodes, 0);
    values = values * keep.index_select(0, x.pattern.row_ids());
  }
  // Dropout of a zero is zero, so dropping the stored values draws the dense dropout's distribution. One draw
  // serves every weight: they project the same dropped input.
  values = graph::dropout(values, dropout, training);
  const bool token_rows = replace && token.defined();
  const int64_t rows = token_rows ? token_nodes.size(0) : 0;
  torch::Tensor token_keep;
  if (token_rows && training && dropout > 0) {
    // graph::dropout's scales: each row's entries dropped independently, as in the dense path.
    token_keep = graph::dropout_scales({rows, x.num_features()}, dropout, values.options());
  }
  // Every weight in one product: both products work on weight^T ([F, out], rows of the output's width), so the
  // weights' transposes side by side are one [F, sum of out] operand. A narrow product (the folded attention's 2H
  // columns) runs far below the GEMM rate on its own: on the 22k x 4.7k graph its token rows' product and gradient
  // took 124 ms per step for 2 % of the flops. The outputs are column slices of one [N, sum of out] result.
  std::vector<torch::Tensor> weights_t;
  std::vector<int64_t> widths;
  for (const auto& weight : weights) {
    weights_t.push_back(weight.t());
    widths.push_back(weight.size(0));
  }
  const auto weight_t = weights.size() == 1 ? weights_t.front().contiguous() : torch::cat(weights_t, 1);
  auto h = project(x, values, weight_t);
  if (token_rows) {
    const auto projected = token_keep.defined()
                               ? token_rows_linear(token, weight_t, token_keep)
                               : torch::mm(token, weight_t).expand({rows, weight_t.size(1)});
    h = h.index_add(0, token_nodes, projected);
  }
  if (weights.size() == 1) return {h};
  return torch::split_with_sizes(h, widths, 1);
}

torch::Tensor masked_sparse_linear(const SparseFeatures& x, const torch::Tensor& weight,
                                   const torch::Tensor& token_nodes, const torch::Tensor& token, double dropout,
                                   bool training) {
  return masked_sparse_linear(x, std::vector<torch::Tensor>{weight}, token_nodes, token, dropout, training).front();
}

void store_transposed(torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 2, "store_transposed: expected a 2-D weight, got ", weight.sizes());
  if (weight.t().is_contiguous()) return;
  torch::NoGradGuard no_grad;
  weight.set_data(weight.t().contiguous().t());
}

}  // namespace graphmae2::models::layers
