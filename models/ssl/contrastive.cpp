#include "models/ssl/contrastive.h"

namespace graphmae2::models::ssl {
namespace F = torch::nn::functional;

torch::Tensor contrastive_loss(const torch::Tensor& q, const torch::Tensor& k, double tau) {
  TORCH_CHECK(q.dim() == 2 && k.dim() == 2, "contrastive_loss: q and k must be [N, D], got ", q.sizes(), " and ",
              k.sizes());
  TORCH_CHECK(q.sizes() == k.sizes(), "contrastive_loss: q has shape ", q.sizes(), " but k has ", k.sizes());
  TORCH_CHECK(q.size(0) >= 1, "contrastive_loss: need at least one row, got ", q.size(0));
  TORCH_CHECK(q.is_floating_point() && k.is_floating_point(), "contrastive_loss: q and k must be floating, got ",
              q.scalar_type(), " and ", k.scalar_type());
  TORCH_CHECK(tau > 0.0, "contrastive_loss: tau must be > 0, got ", tau);
  const auto qn = F::normalize(q, F::NormalizeFuncOptions().dim(1));
  const auto kn = F::normalize(k, F::NormalizeFuncOptions().dim(1));
  const auto logits = torch::matmul(qn, kn.t()) / tau;
  const auto labels = torch::arange(q.size(0), torch::TensorOptions().dtype(torch::kInt64).device(q.device()));
  return F::cross_entropy(logits, labels) * (2.0 * tau);
}

torch::Tensor symmetric_contrastive_loss(const torch::Tensor& q1, const torch::Tensor& q2, const torch::Tensor& k1,
                                         const torch::Tensor& k2, double tau) {
  return contrastive_loss(q1, k2, tau) + contrastive_loss(q2, k1, tau);
}

torch::Tensor info_nce_loss(const torch::Tensor& pred, const torch::Tensor& target, double tau) {
  return contrastive_loss(pred, target, tau);
}

}  // namespace graphmae2::models::ssl
