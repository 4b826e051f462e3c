#pragma once
// Losses shared by the graph and the image side.

#include <torch/torch.h>

namespace graphmae2::models::ssl {

/// Scaled cosine error (GraphMAE): mean over rows of (1 - cos(x_i, y_i))^alpha.
/// x, y: [N, D] (rows are L2-normalised inside, dividing by max(norm, eps)). Returns a scalar.
/// eps: the reference uses F.normalize's 1e-12, which turns an all-zero row (a masked node whose whole
/// neighbourhood is masked decodes to exactly 0 at initialisation) into a ~1e11 gradient on the decoder
/// bias; 1e-6 keeps such rows' loss value (1) and bounds that gradient, far below any real row's norm.
torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha = 3.0, double eps = 1e-6);

/// Mean squared error over all entries. x, y: same shape. Returns a scalar.
torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y);

}  // namespace graphmae2::models::ssl
