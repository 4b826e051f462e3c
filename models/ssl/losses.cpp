#include "models/ssl/losses.h"

namespace graphmae2::models::ssl {

torch::Tensor sce_loss_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  TORCH_CHECK(x.sizes() == y.sizes(), "sce_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  TORCH_CHECK(x.dim() == 2, "sce_loss: expected 2-D inputs [N, D], got ", x.dim(), "-D");
  TORCH_CHECK(alpha >= 1.0, "sce_loss: alpha must be >= 1, got ", alpha);
  namespace F = torch::nn::functional;
  auto xn = F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  auto yn = F::normalize(y, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  return (1 - (xn * yn).sum(-1)).pow(alpha);
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
