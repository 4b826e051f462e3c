#include "models/ssl/losses.h"

namespace graphmae2::models::ssl {

torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  TORCH_CHECK(x.sizes() == y.sizes(), "sce_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  TORCH_CHECK(x.dim() == 2, "sce_loss: expected 2-D inputs [N, D], got ", x.dim(), "-D");
  TORCH_CHECK(alpha >= 1.0, "sce_loss: alpha must be >= 1, got ", alpha);
  namespace F = torch::nn::functional;
  auto xn = F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  auto yn = F::normalize(y, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  return (1 - (xn * yn).sum(-1)).pow(alpha).mean();
}

torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.sizes() == y.sizes(), "mse_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  return (x - y).pow(2).mean();
}

}  // namespace graphmae2::models::ssl
