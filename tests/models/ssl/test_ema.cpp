// The shared EMA updater: exact formula, limits, and that the teacher never trains.

#include "fixtures/graphmae2_batch.h"
#include "models/graphmae2/graphmae2.h"
#include "models/ssl/ema.h"

#include <gtest/gtest.h>

#include <cmath>

using graphmae2::models::ssl::cosine_momentum;
using graphmae2::models::ssl::EmaUpdater;

namespace {

struct Pair {
  torch::nn::Sequential student{torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4), torch::nn::Linear(4, 2)};
  torch::nn::Sequential teacher{nullptr};
  Pair() {
    teacher = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(student->clone());
    torch::NoGradGuard ng;
    for (auto& p : student->parameters()) p.add_(torch::randn_like(p));
    student->train();
    student->forward(torch::randn({8, 3}));  // moves BatchNorm's running stats away from the teacher's
  }
};

std::vector<torch::Tensor> snapshot(const torch::nn::Module& m) {
  std::vector<torch::Tensor> out;
  for (const auto& p : m.parameters()) out.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) out.push_back(b.detach().clone());
  return out;
}

TEST(Ema, OneUpdateEqualsTheFormulaOnEveryTensor) {
  torch::manual_seed(0);
  Pair pair;
  auto t0 = snapshot(*pair.teacher);
  auto s0 = snapshot(*pair.student);
  EmaUpdater ema(pair.student.ptr(), pair.teacher.ptr());
  const double m = 0.7;
  ema.update(m);
  auto t1 = snapshot(*pair.teacher);  // read back through the module: an out-of-place update would not show here
  ASSERT_EQ(t1.size(), t0.size());
  int moved = 0;
  for (size_t i = 0; i < t1.size(); ++i) {
    if (!t0[i].is_floating_point()) {
      EXPECT_TRUE(torch::equal(t1[i], s0[i]));  // integer buffers (num_batches_tracked) are copied
      continue;
    }
    auto expected = t0[i].to(torch::kFloat64) * m + s0[i].to(torch::kFloat64) * (1 - m);
    EXPECT_TRUE(torch::allclose(t1[i].to(torch::kFloat64), expected, 1e-6, 1e-7)) << "tensor " << i;
    if (!torch::equal(t0[i], s0[i])) {
      EXPECT_FALSE(torch::equal(t1[i], t0[i])) << "tensor " << i << " did not move";
      ++moved;
    }
  }
  EXPECT_GT(moved, 4);
}

TEST(Ema, MomentumOneKeepsAndZeroCopies) {
  torch::manual_seed(1);
  Pair pair;
  auto t0 = snapshot(*pair.teacher);
  auto s0 = snapshot(*pair.student);
  EmaUpdater ema(pair.student.ptr(), pair.teacher.ptr());
  ema.update(1.0);
  auto t1 = snapshot(*pair.teacher);
  for (size_t i = 0; i < t0.size(); ++i) {
    if (t0[i].is_floating_point()) EXPECT_TRUE(torch::equal(t1[i], t0[i]));
  }
  ema.update(0.0);
  auto t2 = snapshot(*pair.teacher);
  for (size_t i = 0; i < t0.size(); ++i) EXPECT_TRUE(torch::equal(t2[i], s0[i])) << "tensor " << i;
  EXPECT_DOUBLE_EQ(ema.distance(), 0.0);
  EXPECT_THROW(ema.update(1.5), c10::Error);
}

TEST(Ema, TeacherGetsNoGradientAndIsNotInTheOptimizer) {
  namespace g2 = graphmae2::models::graphmae2;
  torch::manual_seed(2);
  g2::GraphMAE2 model(g2::GraphMAE2Options(6).num_hidden(8).heads(2));
  for (const auto& p : model->encoder_ema->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& p : model->projector_ema->parameters()) EXPECT_FALSE(p.requires_grad());
  auto trainable = model->student_parameters();
  for (const auto& t : model->encoder_ema->parameters()) {
    for (const auto& p : trainable) EXPECT_NE(p.data_ptr(), t.data_ptr());
  }
  // Teacher starts as an exact copy of the student.
  auto s = model->encoder->named_parameters();
  for (const auto& item : model->encoder_ema->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), s[item.key()]));
  // A full step leaves the teacher's .grad undefined.
  auto g = graphmae2::graph::CsrGraph::from_edges(torch::tensor({0, 1, 2, 3, 0, 1, 2, 3}, torch::kInt64),
                                                  torch::tensor({1, 2, 3, 0, 0, 1, 2, 3}, torch::kInt64), 4);
  g2::MaskPlan plan{torch::tensor({1, 2}, torch::kInt64), {}};
  auto losses = model->forward(graphmae2::testing::batch_of(g, torch::rand({4, 6}), torch::arange(4, torch::kInt64)),
                               plan, graphmae2::testing::fixed_remask());
  losses.total.backward();
  for (const auto& p : model->encoder_ema->parameters()) EXPECT_FALSE(p.grad().defined());
  for (const auto& p : model->encoder->parameters()) EXPECT_TRUE(p.grad().defined());
}

TEST(Ema, CosineMomentumSchedule) {
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 0, 100), 0.99);
  EXPECT_NEAR(cosine_momentum(0.99, 50, 100), 0.995, 1e-12);  // halfway: 1 - 0.01 * 0.5
  EXPECT_DOUBLE_EQ(cosine_momentum(0.99, 100, 100), 1.0);
  EXPECT_NEAR(cosine_momentum(0.9, 25, 100), 1 - 0.1 * (std::cos(M_PI / 4) + 1) / 2, 1e-12);
}

}  // namespace
