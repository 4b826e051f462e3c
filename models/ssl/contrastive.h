#pragma once
// The contrastive (InfoNCE) loss shared by MoCo v3 and GraphMAE2's latent-loss option.

#include <torch/torch.h>

namespace graphmae2::models::ssl {

/// MoCo v3's ctr(q, k): rows of q and k are L2-normalised, logits = q k^T / tau, and row i's positive is
/// k_i (diagonal labels); returns CrossEntropy(logits, arange(N)) * 2 tau, a scalar. The 2 tau factor makes
/// the gradient scale independent of tau (as the reference). q, k: [N, D] floating, N >= 1; tau > 0.
/// k is not detached here: pass k.detach() (or momentum-encoder output made under no-grad) for a stop-gradient.
torch::Tensor contrastive_loss(const torch::Tensor& q, const torch::Tensor& k, double tau);

/// The symmetrised MoCo v3 loss ctr(q1, k2) + ctr(q2, k1). All four: [N, D]. Returns a scalar.
torch::Tensor symmetric_contrastive_loss(const torch::Tensor& q1, const torch::Tensor& q2, const torch::Tensor& k1,
                                         const torch::Tensor& k2, double tau);

/// InfoNCE between predicted and target node embeddings, with the semantics of contrastive_loss: node i's
/// positive is target_i, every other target row is a negative. pred, target: [N, D]; returns a scalar.
/// Builds the N x N similarity matrix: O(N^2) memory, so pass a subset (e.g. the masked nodes) on big graphs.
torch::Tensor info_nce_loss(const torch::Tensor& pred, const torch::Tensor& target, double tau);

}  // namespace graphmae2::models::ssl
