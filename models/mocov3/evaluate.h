#pragma once
// Frozen-feature evaluation of an image backbone: a weighted kNN monitor and a linear probe.

#include "models/eval/linear_probe.h"
#include "models/vit/vit.h"

#include <torch/torch.h>

namespace graphmae2::models::mocov3 {

/// Runs `backbone` (eval mode, no grad) over uint8 images [N, C, H, W] in batches, after scaling to [0, 1] and
/// normalising with (x - mean) / std. Returns float [N, last_blocks * embed_dim] (see forward_features).
/// Restores the backbone's train/eval mode afterwards.
torch::Tensor extract_features(vit::VisionTransformer& backbone, const torch::Tensor& images, double mean, double std,
                               int64_t last_blocks, int64_t batch_size);

/// Weighted kNN classifier of InstDisc / MoCo monitors: cosine similarity to the train features, the k nearest
/// vote for their label with weight exp(sim / t). Features [N, D] (L2-normalised inside), labels int64 [N].
/// Returns the accuracy on the test rows, in [0, 1].
double knn_accuracy(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                    const torch::Tensor& test_features, const torch::Tensor& test_labels, int64_t num_classes,
                    int64_t k, double t);

/// Linear probe on frozen features with eval::linear_probe (full-batch Adam, epoch chosen on validation):
/// features are standardised with train statistics, a seeded val_fraction of the train rows is held out to pick
/// the epoch. Returns its ProbeResult; test_acc is the figure to report.
eval::ProbeResult image_linear_probe(const torch::Tensor& train_features, const torch::Tensor& train_labels,
                                     const torch::Tensor& test_features, const torch::Tensor& test_labels,
                                     int64_t num_classes, const eval::ProbeOptions& options, double val_fraction = 0.1);

}  // namespace graphmae2::models::mocov3
