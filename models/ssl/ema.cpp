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
    TORCH_CHECK(t->sizes() == item.value().sizes(), "EmaUpdater: parameter '", item.key(), "' has shape ",
                t->sizes(), " in the teacher but ", item.value().sizes(), " in the student");
    t->set_requires_grad(false);
    pairs_.emplace_back(*t, item.value());
  }
  auto sb = student_->named_buffers(true);
  auto tb = teacher_->named_buffers(true);
  TORCH_CHECK(sb.size() == tb.size(), "EmaUpdater: student has ", sb.size(), " buffers, teacher has ", tb.size());
  for (const auto& item : sb) {
    const auto* t = tb.find(item.key());
    TORCH_CHECK(t, "EmaUpdater: teacher has no buffer '", item.key(), "'");
    pairs_.emplace_back(*t, item.value());
  }
}

void EmaUpdater::copy_student() { update(0.0); }

void EmaUpdater::update(double momentum) {
  TORCH_CHECK(momentum >= 0.0 && momentum <= 1.0, "EmaUpdater: momentum must be in [0, 1], got ", momentum);
  torch::NoGradGuard no_grad;
  for (auto& [teacher, student] : pairs_) {
    if (!teacher.is_floating_point()) {
      teacher.copy_(student);
    } else if (momentum == 0.0) {
      teacher.copy_(student);
    } else if (momentum != 1.0) {
      // In place on the teacher's own storage: an out-of-place mul/add would rebind a copy and never move it.
      teacher.mul_(momentum).add_(student.detach(), 1.0 - momentum);
    }
  }
}

double EmaUpdater::distance() const {
  torch::NoGradGuard no_grad;
  double sq = 0.0;
  for (const auto& [teacher, student] : pairs_) {
    if (teacher.is_floating_point()) sq += (teacher - student).pow(2).sum().item<double>();
  }
  return std::sqrt(sq);
}

double cosine_momentum(double base, int64_t step, int64_t total_steps) {
  TORCH_CHECK(total_steps > 0, "cosine_momentum: total_steps must be > 0, got ", total_steps);
  const double progress = std::min<double>(1.0, static_cast<double>(step) / static_cast<double>(total_steps));
  return 1.0 - (1.0 - base) * (std::cos(M_PI * progress) + 1.0) / 2.0;
}

}  // namespace graphmae2::models::ssl
