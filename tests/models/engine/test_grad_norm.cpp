// Clipping on the device equals torch::nn::utils::clip_grad_norm_ (which reads the norm back every step).

#include "models/engine/grad_norm.h"

#include <gtest/gtest.h>

namespace engine = graphmae2::models::engine;

namespace {

std::vector<torch::Tensor> params_with_grads(double scale) {
  torch::manual_seed(3);
  std::vector<torch::Tensor> params;
  for (const auto& shape : std::vector<std::vector<int64_t>>{{7, 5}, {5}, {3, 2, 4}}) {
    auto p = torch::randn(shape, torch::requires_grad());
    p.mutable_grad() = scale * torch::randn(shape);
    params.push_back(p);
  }
  params.push_back(torch::randn({4}, torch::requires_grad()));  // no gradient: skipped
  return params;
}

}  // namespace

TEST(GradNorm, ClippingEqualsTorchsClipGradNorm) {
  for (const double scale : {0.01, 1.0, 100.0}) {
    SCOPED_TRACE(scale);
    auto ours = params_with_grads(scale);
    auto theirs = params_with_grads(scale);
    double plain = 0;
    for (const auto& p : ours) {
      if (p.grad().defined()) plain += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
    }
    const auto norm = engine::clip_grad_norm(ours, 1.5);
    const double torch_norm = torch::nn::utils::clip_grad_norm_(theirs, 1.5);
    EXPECT_EQ(norm.dim(), 0);
    EXPECT_NEAR(norm.item<double>(), std::sqrt(plain), 1e-5 * std::sqrt(plain));
    EXPECT_EQ(norm.item<double>(), torch_norm);
    for (size_t k = 0; k < ours.size(); ++k) {
      EXPECT_EQ(ours[k].grad().defined(), theirs[k].grad().defined());
      if (ours[k].grad().defined()) EXPECT_TRUE(torch::equal(ours[k].grad(), theirs[k].grad()));
    }
    // After clipping, the norm is at most the bound.
    EXPECT_LE(engine::total_grad_norm(ours).item<double>(), 1.5 * (1 + 1e-5));
  }
}

TEST(GradNorm, NoGradientsGiveZero) {
  std::vector<torch::Tensor> params{torch::randn({3}, torch::requires_grad())};
  EXPECT_EQ(engine::total_grad_norm(params).item<double>(), 0.0);
  EXPECT_EQ(engine::clip_grad_norm(params, 1.0).item<double>(), 0.0);
  EXPECT_FALSE(params[0].grad().defined());
}
