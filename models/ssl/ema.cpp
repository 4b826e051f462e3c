#include "models/ssl/ema.h"

#include <cmath>

namespace graphmae2::models::ssl {

EmaUpdater::EmaUpdater(std::shared_ptr<torch::nn::Module> student, std::shared_ptr<torch::nn::Module> teacher)
    : student_(std::move(student)), teacher_(std::move(teacher)) {
  TORCH_CHECK(student_ && teacher_, "EmaUpdater: student and teacher must be non-null");
  TORCH_CHECK(student_.get() != teacher_.get(), "EmaUpdater: the teacher must be a separate copy of the student");
  auto sp = student_->named_parameters(/*recurse=*/true);
  auto tp = teacher_->named_parameters(/*recurse=*/true);
  TORCH_CHECK(sp.size() == tp.size(), "EmaUpdater: student has ", sp.size(), " parameters, teacher has ", tp.size());
  for (const auto& item : sp) {
    const auto* t = tp.find(item.key());
    TORCH_CHECK(t, "EmaUpdater: teacher has no parameter '", item.key(), "'");
    TORCH_CHECK(t->sizes() == item.value().sizes(), "EmaUpdater: parameter '", item.key(), "' has shape ", t->sizes(),
                " in the teacher but ", item.value().sizes(), " in the student");
    t->set_requires_grad(false);
    add_pair(*t, item.value());
  }
  auto sb = student_->named_buffers(true);
  auto tb = teacher_->named_buffers(true);
  TORCH_CHECK(sb.size() == tb.size(), "EmaUpdater: student has ", sb.size(), " buffers, teacher has ", tb.size());
  for (const auto& item : sb) {
    const auto* t = tb.find(item.key());
    TORCH_CHECK(t, "EmaUpdater: teacher has no buffer '", item.key(), "'");
    add_pair(*t, item.value());
  }
}

void EmaUpdater::add_pair(const torch::Tensor& teacher, const torch::Tensor& student) {
  if (teacher.is_floating_point()) {
    teachers_.push_back(teacher);
    students_.push_back(
        student);  // the module's own tensor, not a detached alias: loading a checkpoint may swap its storage
  } else {
    copied_.emplace_back(teacher, student);
  }
}

void EmaUpdater::copy_student() { update(0.0); }

void EmaUpdater::update(double momentum) {
  TORCH_CHECK(momentum >= 0.0 && momentum <= 1.0, "EmaUpdater: momentum must be in [0, 1], got ", momentum);
  torch::NoGradGuard no_grad;
  for (auto& [teacher, student] : copied_) teacher.copy_(student);
  if (momentum == 0.0) {
    for (size_t k = 0; k < teachers_.size(); ++k) teachers_[k].copy_(students_[k]);
  } else if (momentum != 1.0) {
    // In place on the teachers' own storage, all tensors in two fused kernels (the same arithmetic per element as
    // teacher.mul_(m).add_(student, 1 - m)).
    torch::_foreach_mul_(teachers_, momentum);
    torch::_foreach_add_(teachers_, students_, 1.0 - momentum);
  }
}

double EmaUpdater::distance() const {
  torch::NoGradGuard no_grad;
  if (teachers_.empty()) return 0.0;
  const auto norms = torch::_foreach_norm(torch::_foreach_sub(teachers_, students_), 2);
  return torch::stack(norms).to(torch::kFloat64).pow(2).sum().sqrt().item<double>();  // one host read
}

double cosine_momentum(double base, int64_t step, int64_t total_steps) {
  TORCH_CHECK(total_steps > 0, "cosine_momentum: total_steps must be > 0, got ", total_steps);
  const double progress = std::min<double>(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
  return 1.0 - (1.0 - base) * (std::cos(M_PI * progress) + 1.0) / 2.0;
}

}  // namespace graphmae2::models::ssl
