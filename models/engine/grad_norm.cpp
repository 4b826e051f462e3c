#include "models/engine/grad_norm.h"

namespace graphmae2::models::engine {

namespace {

std::vector<torch::Tensor> defined_grads(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

torch::Tensor norm_of(const std::vector<torch::Tensor>& grads) {
  // One fused kernel for the per-tensor norms where the device has it, then the norm of norms (as torch's own).
  const auto norms = torch::_foreach_norm(grads, 2);
  return norms.size() == 1 ? norms[0] : torch::stack(norms).norm(2);
}

}  // namespace

torch::Tensor total_grad_norm(const std::vector<torch::Tensor>& params) {
  const auto grads = defined_grads(params);
  if (grads.empty()) return torch::zeros({});
  torch::NoGradGuard no_grad;
  return norm_of(grads);
}

torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm, torch::Tensor norm) {
  TORCH_CHECK(max_norm > 0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  const auto grads = defined_grads(params);
  if (grads.empty()) return torch::zeros({});
  torch::NoGradGuard no_grad;
  if (!norm.defined()) norm = norm_of(grads);
  const auto coef = torch::clamp(max_norm / (norm + 1e-6), std::nullopt, 1.0);
  torch::_foreach_mul_(grads, coef);
  return norm;
}

}  // namespace graphmae2::models::engine
