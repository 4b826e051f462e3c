#include "models/layers/sparse_features.h"

#include "graph/ops/spmm.h"

namespace graphmae2::models::layers {

namespace F = torch::nn::functional;

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

torch::Tensor masked_sparse_linear(const SparseFeatures& x, const torch::Tensor& weight,
                                   const torch::Tensor& token_nodes, const torch::Tensor& token, double dropout,
                                   bool training) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.num_features(), "masked_sparse_linear: weight has shape ",
              weight.sizes(), ", expected [out, ", x.num_features(), "]");
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
  // Dropout of a zero is zero, so dropping the stored values draws the dense dropout's distribution.
  values = F::dropout(values, F::DropoutFuncOptions().p(dropout).training(training));
  auto h = graph::spmm(x.pattern, values.unsqueeze(1), weight.t().contiguous().unsqueeze(1)).squeeze(1);
  if (replace && token.defined()) {
    auto rows = F::dropout(token.expand({token_nodes.size(0), x.num_features()}),
                           F::DropoutFuncOptions().p(dropout).training(training));
    h = h.index_add(0, token_nodes, torch::mm(rows, weight.t()));
  }
  return h;
}

}  // namespace graphmae2::models::layers
