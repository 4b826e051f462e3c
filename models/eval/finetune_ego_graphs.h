#pragma once
// Mini-batch fine-tuning on local-clustering ego-graphs (the reference's models/finetune.py, finetune): the
// pretrained encoder plus a linear head, trained end to end on batches of train seeds' ego-graphs.

#include "datasets/feature_store.h"
#include "graph/csr_graph.h"
#include "graph/sampling/local_clustering.h"
#include "models/eval/linear_probe.h"
#include "models/layers/gat.h"

#include <torch/torch.h>

#include <cstdint>

namespace graphmae2::models::eval {

/// A copy of `encoder` (the original is untouched) and a new linear head, trained on batches of
/// options.batch_size train seeds' ego-graphs (the prediction at each seed), AdamW (options.lr,
/// options.weight_decay), the lr warmed up over the first 10% of options.max_epoch epochs and then
/// cosine-decayed (epoch 0 only steps the schedule, as in the reference), gradients clipped at norm 5. After each
/// epoch the validation accuracy is computed on the val seeds' ego-graphs; 10 epochs without a better one stop
/// training. Returns the test accuracy of the best-validation model (test_acc) and of the last epoch's
/// (final_test_acc). labels and masks are per node of `graph`; every train/val/test node must have an ego-graph
/// in `egos`. Copies each batch's accuracy count to the host. Throws naming num_classes < 2, max_epoch < 1,
/// batch_size < 1, or labelled nodes without an ego-graph.
ProbeResult finetune_ego_graphs(const layers::GAT& encoder, const graph::CsrGraph& graph,
                                const datasets::FeatureStore& features, const graph::sampling::EgoGraphs& egos,
                                const torch::Tensor& labels, int64_t num_classes, const torch::Tensor& train_mask,
                                const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                                const ProbeOptions& options, const torch::Device& device, bool progress = false);

}  // namespace graphmae2::models::eval
