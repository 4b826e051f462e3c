// FusedAdam / FusedAdamW against torch::optim's Adam / AdamW: the same trajectory, and state that moves between
// them through a checkpoint.

#include "models/engine/fused_adam.h"

#include <gtest/gtest.h>

#include <sstream>

namespace engine = graphmae2::models::engine;

namespace {

std::vector<torch::Tensor> make_params(int64_t seed) {
  torch::manual_seed(seed);
  const auto opts = torch::TensorOptions().dtype(torch::kDouble);
  return {torch::randn({7, 5}, opts).requires_grad_(), torch::randn({5}, opts).requires_grad_(),
          torch::randn({3, 2}, opts).requires_grad_()};
}

std::vector<torch::Tensor> clones(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

// A loss whose gradient changes from step to step; the third parameter gets no gradient on odd steps.
void backward(const std::vector<torch::Tensor>& ps, int step) {
  auto loss = (ps[0].sin() * (step + 1)).sum() + (ps[1] * ps[1]).sum();
  if (step % 2 == 0) loss = loss + ps[2].pow(3).sum();
  loss.backward();
}

template <class Plain, class Fused, class Options>
void expect_same_trajectory(const Options& options) {
  auto a = make_params(0);
  auto b = clones(a);
  Plain plain(a, options);
  Fused fused(b, options);
  for (int step = 0; step < 6; ++step) {
    plain.zero_grad(/*set_to_none=*/true);
    fused.zero_grad(/*set_to_none=*/true);
    backward(a, step);
    backward(b, step);
    plain.step();
    fused.step();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-12, 1e-12)) << "step " << step << " parameter " << i;
    }
  }
}

}  // namespace

TEST(FusedAdam, FollowsTorchOptimAdamWithAndWithoutWeightDecay) {
  expect_same_trajectory<torch::optim::Adam, engine::FusedAdam>(torch::optim::AdamOptions(0.05));
  expect_same_trajectory<torch::optim::Adam, engine::FusedAdam>(
      torch::optim::AdamOptions(0.05).weight_decay(0.1).betas({0.8, 0.95}).eps(1e-6));
}

TEST(FusedAdam, FollowsTorchOptimAdamW) {
  expect_same_trajectory<torch::optim::AdamW, engine::FusedAdamW>(torch::optim::AdamWOptions(0.05).weight_decay(0.3));
}

TEST(FusedAdam, StateMovesToAndFromTorchOptimThroughASavedOptimizer) {
  auto a = make_params(1);
  auto b = clones(a);
  const auto options = torch::optim::AdamOptions(0.02).weight_decay(0.01);
  engine::FusedAdam fused(a, options);
  for (int step = 0; step < 3; ++step) {
    fused.zero_grad(true);
    backward(a, step);
    fused.step();
  }
  std::stringstream archive;
  torch::save(fused, archive);
  torch::optim::Adam plain(b, options);
  for (size_t i = 0; i < a.size(); ++i) b[i].detach().copy_(a[i].detach());
  torch::load(plain, archive);
  for (int step = 3; step < 6; ++step) {
    fused.zero_grad(true);
    plain.zero_grad(true);
    backward(a, step);
    backward(b, step);
    fused.step();
    plain.step();
  }
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-12, 1e-12)) << "parameter " << i;
}

TEST(FusedAdam, AmsgradTakesTheParentStep) {
  expect_same_trajectory<torch::optim::Adam, engine::FusedAdam>(torch::optim::AdamOptions(0.05).amsgrad(true));
}

TEST(FusedAdam, AParameterStoredColumnMajorFollowsTheSameTrajectory) {
  // The first parameter turns column-major after two steps (its moments were made row-major), and on one step its
  // gradient is handed over row-major: every combination of layouts the kernel is given flat.
  auto a = make_params(2);
  auto b = clones(a);
  const auto options = torch::optim::AdamOptions(0.05).weight_decay(0.1);
  torch::optim::Adam plain(a, options);
  engine::FusedAdam fused(b, options);
  for (int step = 0; step < 6; ++step) {
    if (step == 2) {
      torch::NoGradGuard no_grad;
      b[0].set_data(b[0].t().contiguous().t());
      ASSERT_FALSE(b[0].is_contiguous());
    }
    plain.zero_grad(true);
    fused.zero_grad(true);
    backward(a, step);
    backward(b, step);
    if (step == 4) b[0].mutable_grad() = b[0].grad().contiguous();
    if (step >= 2) ASSERT_EQ(b[0].grad().is_contiguous(), step == 4) << "step " << step;
    plain.step();
    fused.step();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-12, 1e-12)) << "step " << step << " parameter " << i;
    }
  }
  EXPECT_FALSE(b[0].is_contiguous());
}
