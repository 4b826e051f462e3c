#include "models/ssl/losses.h"

#include "graph/ops/sce_rows.h"

namespace graphmae2::models::ssl {

torch::Tensor sce_loss_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  return graph::sce_rows(x, y, alpha, eps);
}

torch::Tensor sce_loss_gathered_rows(const torch::Tensor& x, const torch::Tensor& x_rows, const torch::Tensor& y,
                                     double alpha, double eps) {
  return graph::sce_gathered_rows(x, x_rows, y, alpha, eps);
}

torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  return sce_loss_rows(x, y, alpha, eps).mean();
}

torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.sizes() == y.sizes(), "mse_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  return (x - y).pow(2).mean();
}

torch::Tensor variance_loss(const torch::Tensor& z, double gamma, double eps) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) >= 2, "variance_loss: expected [N >= 2, D], got ", z.sizes());
  return torch::relu(gamma - torch::sqrt(z.var(0, /*unbiased=*/true) + eps)).mean();
}

torch::Tensor covariance_loss(const torch::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) >= 2, "covariance_loss: expected [N >= 2, D], got ", z.sizes());
  const auto centred = z - z.mean(0, /*keepdim=*/true);
  const auto cov = torch::mm(centred.t(), centred) / static_cast<double>(z.size(0) - 1);
  return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / static_cast<double>(z.size(1));
}

}  // namespace graphmae2::models::ssl
