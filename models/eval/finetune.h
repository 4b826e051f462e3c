#pragma once
// Node-classification fine-tuning: the pretrained encoder plus a linear head, trained end to end.

#include "models/eval/linear_probe.h"
#include "models/layers/gat.h"

namespace graphmae2::models::eval {

/// Trains a copy of `encoder` (the original is untouched) with a new linear head on the train mask (cross
/// entropy, Adam with options.lr / weight_decay), full batch, options.max_epoch epochs; evaluates val/test
/// in eval mode each epoch and keeps the last epoch with the best val accuracy (as linear_probe does).
/// x: [N, in_dim] features of `graph` (square).
ProbeResult finetune(const layers::GAT& encoder, const graph::CsrGraph& graph, const torch::Tensor& x,
                     const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                     const torch::Tensor& val_mask, const torch::Tensor& test_mask, const ProbeOptions& options);

}  // namespace graphmae2::models::eval
