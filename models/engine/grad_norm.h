#pragma once
// Gradient norms and clipping that stay on the device: torch::nn::utils::clip_grad_norm_ returns a double, so it
// read the norm back to the host after every step (a GPU sync per step). These return 0-d tensors instead.

#include <torch/torch.h>

#include <vector>

namespace graphmae2::models::engine {

/// The 2-norm of all defined gradients of `params` together (the norm of their per-tensor norms), a float 0-d
/// tensor on their device; 0 when none is defined. No host sync.
torch::Tensor total_grad_norm(const std::vector<torch::Tensor>& params);

/// Scales the gradients by min(1, max_norm / (norm + 1e-6)), torch.nn.utils.clip_grad_norm_'s rule, where norm is
/// total_grad_norm (or `norm` when given, e.g. already computed for logging). Returns the norm before clipping.
/// No host sync.
torch::Tensor clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm,
                             torch::Tensor norm = torch::Tensor());

}  // namespace graphmae2::models::engine
