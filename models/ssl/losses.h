#pragma once
// Losses shared by the graph and the image side.

#include <torch/torch.h>

namespace graphmae2::models::ssl {

/// Scaled cosine error (GraphMAE): mean over rows of (1 - cos(x_i, y_i))^alpha.
/// x, y: [N, D] (rows are L2-normalised inside, dividing by max(norm, eps)). Returns a scalar.
/// eps: the reference uses F.normalize's 1e-12, which turns an all-zero row (a masked node whose whole
/// neighbourhood is masked decodes to exactly 0 at initialisation) into a ~1e11 gradient on the decoder
/// bias; 1e-6 keeps such rows' loss value (1) and bounds that gradient, far below any real row's norm.
/// 1 - cos is clamped at 0 (rounding can put parallel rows' cosine just above 1; the reference then gives a negative
/// loss, or NaN for a fractional alpha). The computation is graph::sce_rows (graph/ops/sce_rows.h: a CPU kernel, the
/// torch chain elsewhere).
torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha = 3.0, double eps = 1e-6);
/// sce_loss before the mean: each row's (1 - cos(x_i, y_i))^alpha, shape [N].
torch::Tensor sce_loss_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha = 3.0, double eps = 1e-6);
/// sce_loss_rows(x.index_select(0, x_rows), y, ...) as a target x that gets no gradient (graph::sce_gathered_rows:
/// on the CPU x's rows are read where they lie, not gathered into a copy of the masked nodes' input rows).
/// x: [M, D], x_rows: int64 or int32 [N] in [0, M), y: [N, D]. An x that requires grad, or other devices, take the
/// gather and the chain.
torch::Tensor sce_loss_gathered_rows(const torch::Tensor& x, const torch::Tensor& x_rows, const torch::Tensor& y,
                                     double alpha = 3.0, double eps = 1e-6);

/// Mean squared error over all entries. x, y: same shape. Returns a scalar.
torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y);

/// VICReg's variance term (Bardes et al. 2022): mean over the D columns of relu(gamma - sqrt(var_d + eps)), var_d
/// the unbiased variance of column d over the N rows. Zero once every dimension varies by gamma across rows;
/// pushes apart embeddings that collapsed to a point. z: [N, D], N >= 2. Returns a scalar.
torch::Tensor variance_loss(const torch::Tensor& z, double gamma = 1.0, double eps = 1e-4);

/// VICReg's covariance term: the sum of the squared off-diagonal entries of the (unbiased) covariance matrix of
/// z's columns, divided by D. Zero when the dimensions are uncorrelated; penalises dimensional collapse (all
/// dimensions carrying one direction). z: [N, D], N >= 2. O(N D^2) time, D x D memory. Returns a scalar.
torch::Tensor covariance_loss(const torch::Tensor& z);

}  // namespace graphmae2::models::ssl
