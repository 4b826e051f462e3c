#pragma once
// The exponential-moving-average (momentum) teacher shared by GraphMAE2 and MoCo v3.

#include <torch/torch.h>

#include <memory>
#include <vector>

namespace graphmae2::models::ssl {

/// @brief Moves a teacher module towards its student: teacher = m * teacher + (1 - m) * student, in place.
///
/// Pairs parameters and buffers by name (both modules must have the same structure, e.g. teacher =
/// student->clone()). The teacher's parameters are set to requires_grad=false so they never receive
/// gradients; keep them out of the optimizer. The schedule of m lives in the trainer, not here.
class EmaUpdater {
 public:
  EmaUpdater(std::shared_ptr<torch::nn::Module> student, std::shared_ptr<torch::nn::Module> teacher);

  /// Copies the student into the teacher (m = 0) and freezes the teacher's parameters.
  void copy_student();
  /// teacher = momentum * teacher + (1 - momentum) * student, under no-grad, in place.
  /// Floating buffers (e.g. BatchNorm running stats) follow the same rule; integer buffers are copied.
  void update(double momentum);
  /// Sum over tensors of ||teacher - student||^2, square-rooted: how far the teacher lags.
  double distance() const;

  const std::shared_ptr<torch::nn::Module>& teacher() const { return teacher_; }

 private:
  std::shared_ptr<torch::nn::Module> student_;
  std::shared_ptr<torch::nn::Module> teacher_;
  void add_pair(const torch::Tensor& teacher, const torch::Tensor& student);

  // Floating parameters and buffers, averaged: teachers_[k] follows students_[k].
  std::vector<torch::Tensor> teachers_, students_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copied_;  // (teacher, student) integer buffers, copied
};

/// Cosine momentum schedule of BYOL / MoCo v3: m rises from `base` at step 0 to 1 at `total_steps`.
/// Returns 1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2.
double cosine_momentum(double base, int64_t step, int64_t total_steps);

}  // namespace graphmae2::models::ssl
