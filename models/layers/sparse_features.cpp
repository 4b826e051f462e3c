#include "models/layers/sparse_features.h"

#include "graph/ops/csr_projection.h"
#include "graph/ops/dropout.h"
#include "graph/ops/token_rows_linear.h"
#include "graph/transforms.h"

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
  TORCH_CHECK(
      !replace || !token.defined() || (token.dim() == 2 && token.size(0) == 1 && token.size(1) == x.num_features()),
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
  // columns) runs far below the GEMM rate on its own (docs/performance.md). The outputs are column slices of one
  // [N, sum of out] result.
  std::vector<torch::Tensor> weights_t;
  std::vector<int64_t> widths;
  for (const auto& weight : weights) {
    weights_t.push_back(weight.t());
    widths.push_back(weight.size(0));
  }
  const auto weight_t = weights.size() == 1 ? weights_t.front().contiguous() : torch::cat(weights_t, 1);
  auto h = graph::csr_projection(x.pattern, values, weight_t);
  if (token_rows) {
    const auto projected = token_keep.defined() ? graph::token_rows_linear(token, weight_t, token_keep)
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
