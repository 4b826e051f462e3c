#pragma once
// Node-classification evaluation: a linear probe on frozen embeddings.

#include <torch/torch.h>

#include <cstdint>
#include <functional>

namespace graphmae2::models::eval {

struct ProbeOptions {
  double lr = 0.01;
  double weight_decay = 0.0;
  int64_t max_epoch = 300;
  uint64_t seed = 0;
  /// Train rows per Adam step, drawn in a fresh random order each epoch; 0: the whole train set in one step.
  int64_t batch_size = 0;
  /// Called after each epoch with the epoch's index (a progress bar); training is unaffected.
  std::function<void(int64_t epoch)> on_epoch;
};
/// The probe batch of the reference's mini-batch path (main_large.py, linear_probing_minibatch).
inline constexpr int64_t kMiniBatchProbeBatchSize = 5120;

struct ProbeResult {
  double best_val_acc = 0;    ///< best validation accuracy over the epochs
  double test_acc = 0;        ///< test accuracy of the last epoch reaching the best validation accuracy
  double final_test_acc = 0;  ///< test accuracy after the last epoch
  int64_t best_epoch = -1;

  /// Records one epoch's accuracies with the reference's rule: the last epoch whose val accuracy is >= the
  /// best so far is the one kept.
  void observe(int64_t epoch, double val_acc, double test_acc) {
    if (best_epoch < 0 || val_acc >= best_val_acc) {
      best_val_acc = val_acc;
      this->test_acc = test_acc;
      best_epoch = epoch;
    }
    final_test_acc = test_acc;
  }
};

/// Fraction of `mask` rows whose argmax of `logits` equals `labels`. Returns 0 for an empty mask.
double accuracy(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& mask);

/// Trains one nn::Linear (embedding_dim -> num_classes) with Adam on the train mask (full batch, or shuffled
/// mini-batches of options.batch_size); after each
/// epoch evaluates val and test and keeps the last epoch whose val accuracy is >= the best so far (the
/// reference's rule). embeddings: float [N, D] (detached); labels: int64 [N]; masks: bool [N].
ProbeResult linear_probe(const torch::Tensor& embeddings, const torch::Tensor& labels, int64_t num_classes,
                         const torch::Tensor& train_mask, const torch::Tensor& val_mask, const torch::Tensor& test_mask,
                         const ProbeOptions& options);

}  // namespace graphmae2::models::eval
