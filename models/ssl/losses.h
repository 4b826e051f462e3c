#pragma once
// Losses shared by the graph and the image side.

#include <torch/torch.h>

namespace graphmae2::models::ssl {

/// Scaled cosine error (GraphMAE): mean over rows of (1 - cos(x_i, y_i))^alpha.
/// x, y: [N, D] (rows are L2-normalised inside). Returns a scalar.
torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha = 3.0);

/// Mean squared error over all entries. x, y: same shape. Returns a scalar.
torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y);

}  // namespace graphmae2::models::ssl
