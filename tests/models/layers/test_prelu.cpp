// layers::PReLU against torch::nn::PReLU (ATen's prelu and its autograd), the independent reference.

#include "models/layers/prelu.h"

#include <gtest/gtest.h>

namespace graphmae2::models::layers {
namespace {

// Values and gradients of ours and torch's on the same input, slope and upstream gradient.
void expect_same_as_torch(const torch::Tensor& input, double slope, double tol) {
  PReLU ours(PReLUOptions().init(slope));
  torch::nn::PReLU reference(torch::nn::PReLUOptions().init(slope));
  ours->to(input.scalar_type());
  reference->to(input.scalar_type());
  auto x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);
  const auto upstream = torch::randn(input.sizes(), input.options());
  const auto y = ours(x), y_ref = reference(x_ref);
  EXPECT_TRUE(torch::equal(y, y_ref));  // the forward is the same selection and product: bit for bit
  (y * upstream).sum().backward();
  (y_ref * upstream).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), x_ref.grad(), tol, tol));
  EXPECT_TRUE(torch::allclose(ours->weight.grad(), reference->weight.grad(), tol, tol))
      << ours->weight.grad() << " vs " << reference->weight.grad();
}

TEST(PReLU, MatchesTorchInValuesAndBothGradients) {
  torch::manual_seed(3);
  // Sizes below, at and across the backward's blocks (16384 elements), zeros included (the slope's branch).
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{16384}, int64_t{50001}}) {
    auto x = torch::randn({n}, torch::kDouble);
    x.index_put_({torch::arange(0, n, 5)}, 0.0);
    expect_same_as_torch(x, 0.25, 1e-12);
    expect_same_as_torch(x.reshape({n, 1}).to(torch::kFloat), -0.6, 1e-4);
  }
  expect_same_as_torch(torch::randn({300, 17}, torch::kFloat), 0.1, 1e-4);
  expect_same_as_torch(torch::randn({17, 300}, torch::kFloat).t(), 0.3, 1e-4);  // a transposed (strided) input
}

TEST(PReLU, DoubleBackwardFollowsTorch) {
  torch::manual_seed(4);
  PReLU ours;
  torch::nn::PReLU reference;
  ours->to(torch::kDouble);
  reference->to(torch::kDouble);
  const auto input = torch::randn({64}, torch::kDouble);
  auto x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);
  const auto g = torch::autograd::grad({(ours(x) * x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  const auto g_ref =
      torch::autograd::grad({(reference(x_ref) * x_ref).sum()}, {x_ref}, {}, std::nullopt, /*create_graph=*/true)[0];
  EXPECT_TRUE(torch::allclose(g, g_ref));
  const auto gg = torch::autograd::grad({g.pow(2).sum()}, {x})[0];
  const auto gg_ref = torch::autograd::grad({g_ref.pow(2).sum()}, {x_ref})[0];
  EXPECT_TRUE(torch::allclose(gg, gg_ref));
}

TEST(PReLU, StateDictKeysAreTorchsSoCheckpointsLoadEitherWay) {
  PReLU ours(PReLUOptions().init(0.4));
  torch::nn::PReLU reference(torch::nn::PReLUOptions().init(0.1));
  const auto ours_params = ours->named_parameters(), ref_params = reference->named_parameters();
  ASSERT_EQ(ours_params.keys(), ref_params.keys());
  EXPECT_EQ(ours_params["weight"].sizes(), ref_params["weight"].sizes());
  torch::NoGradGuard no_grad;
  ours->weight.copy_(reference->weight);
  EXPECT_FLOAT_EQ(ours->weight.item<float>(), 0.1f);
}

}  // namespace
}  // namespace graphmae2::models::layers
