// graph::prelu against torch::prelu (ATen's chain) and a plain-loop reference of both gradients, on both kernel paths.

#include "graph/ops/prelu.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace graphmae2::graph {
namespace {

using testing::expect_error;
using testing::for_each_simd_path;

// Plain loops in double: grad_x[i] = x[i] > 0 ? g[i] : slope g[i], grad_slope = sum of x[i] g[i] where x[i] <= 0.
std::pair<torch::Tensor, double> reference_grads(const torch::Tensor& x_in, const torch::Tensor& g_in, double slope) {
  const auto x = x_in.to(torch::kDouble).contiguous().view({-1}), g = g_in.to(torch::kDouble).contiguous().view({-1});
  auto grad_x = torch::empty_like(x);
  double grad_slope = 0;
  auto xa = x.accessor<double, 1>(), ga = g.accessor<double, 1>(), gxa = grad_x.accessor<double, 1>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    gxa[i] = xa[i] > 0 ? ga[i] : slope * ga[i];
    if (xa[i] <= 0) grad_slope += xa[i] * ga[i];
  }
  return {grad_x.view(x_in.sizes()), grad_slope};
}

// Values bit for bit equal to torch::prelu, gradients to the loops within tol.
void expect_matches(const torch::Tensor& input, double slope, double tol) {
  auto x = input.clone().requires_grad_(true);
  auto weight = torch::full({1}, slope, input.options()).requires_grad_(true);
  const auto y = graph::prelu(x, weight);
  EXPECT_TRUE(torch::equal(y, torch::prelu(input, weight.detach())));
  const auto g = torch::randn(input.sizes(), input.options());
  (y * g).sum().backward();
  const auto [grad_x, grad_slope] = reference_grads(input, g, weight.item<double>());
  EXPECT_TRUE(torch::allclose(x.grad().to(torch::kDouble), grad_x, tol, tol));
  EXPECT_NEAR(weight.grad().item<double>(), grad_slope, tol * (1 + std::abs(grad_slope)));
}

TEST(Prelu, ValuesAndGradientsEqualTheReferenceOnBothPaths) {
  for_each_simd_path([](bool) {
    torch::manual_seed(3);
    // Sizes below, at and across the backward's 16384-element blocks and the 8 lanes, zeros included.
    for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{9}, int64_t{1000}, int64_t{16384}, int64_t{50001}}) {
      auto x = torch::randn({n}, torch::kDouble);
      x.index_put_({torch::arange(0, n, 5)}, 0.0);
      expect_matches(x, 0.25, 1e-12);
      expect_matches(x.reshape({n, 1}).to(torch::kFloat), -0.6, 1e-4);
    }
    expect_matches(torch::randn({17, 300}, torch::kFloat).t(), 0.3, 1e-4);  // transposed: not contiguous
    expect_matches(torch::randn({40, 30}, torch::kDouble).slice(1, 0, 30, 3), 0.1, 1e-12);  // strided columns
  });
}

TEST(Prelu, SimdAndScalarPathsGiveTheSameBits) {
  if (!simd_built()) GTEST_SKIP() << "built without SIMD paths";
  torch::manual_seed(5);
  const auto input = torch::randn({50001}, torch::kFloat), g = torch::randn({50001}, torch::kFloat);
  std::vector<torch::Tensor> outs;
  for (const bool simd : {true, false}) {
    SimdScope scope(simd);
    auto x = input.clone().requires_grad_(true);
    auto weight = torch::full({1}, -0.3f).requires_grad_(true);
    const auto y = graph::prelu(x, weight);
    (y * g).sum().backward();
    outs.insert(outs.end(), {y.detach(), x.grad(), weight.grad()});
  }
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(torch::equal(outs[k], outs[k + 3])) << "output " << k;
}

TEST(Prelu, Float64GradientsMatchFiniteDifferences) {
  for_each_simd_path([](bool) {
    torch::manual_seed(6);
    auto x = torch::randn({5, 3}, torch::kDouble);
    x[1][1] = -1e-3;  // close to the kink, but farther than the step
    testing::expect_gradients_match_finite_differences(
        [](const std::vector<torch::Tensor>& in) { return graph::prelu(in[0], in[1]); },
        {x, torch::full({1}, 0.2, torch::kDouble)}, {true, true});
  });
}

TEST(Prelu, SlopeGradientDoesNotDependOnTheThreadCount) {
  const auto input = torch::randn({100000}, torch::kFloat);
  std::vector<torch::Tensor> grads;
  const int threads = at::get_num_threads();
  for (const int t : {1, 2}) {
    at::set_num_threads(t);
    auto weight = torch::full({1}, 0.25f).requires_grad_(true);
    graph::prelu(input, weight).sum().backward();
    grads.push_back(weight.grad());
  }
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
}

TEST(Prelu, DoubleBackwardFollowsTorch) {
  torch::manual_seed(4);
  const auto input = torch::randn({64}, torch::kDouble);
  auto x = input.clone().requires_grad_(true), x_ref = input.clone().requires_grad_(true);
  const auto w = torch::full({1}, 0.25, torch::kDouble);
  const auto g =
      torch::autograd::grad({(graph::prelu(x, w) * x).sum()}, {x}, {}, std::nullopt, /*create_graph=*/true)[0];
  const auto g_ref =
      torch::autograd::grad({(torch::prelu(x_ref, w) * x_ref).sum()}, {x_ref}, {}, std::nullopt, true)[0];
  EXPECT_TRUE(torch::allclose(g, g_ref));
  const auto gg = torch::autograd::grad({g.pow(2).sum()}, {x})[0];
  const auto gg_ref = torch::autograd::grad({g_ref.pow(2).sum()}, {x_ref})[0];
  EXPECT_TRUE(torch::allclose(gg, gg_ref));
}

TEST(Prelu, OtherDtypesRunTorchsPrelu) {
  const auto x = torch::randn({33}).to(torch::kBFloat16);
  const auto w = torch::full({1}, 0.25).to(torch::kBFloat16);
  EXPECT_TRUE(torch::equal(graph::prelu(x, w), torch::prelu(x, w)));
}

TEST(Prelu, RejectsBadInputsNamingThem) {
  const auto x = torch::randn({4});
  expect_error([&] { graph::prelu(x, torch::full({2}, 0.25)); },
               "prelu: weight should be a single slope of shape [1], got [2]");
  expect_error([&] { graph::prelu(x, torch::full({1, 1}, 0.25)); }, "got [1, 1]");
  expect_error([&] { graph::prelu(torch::Tensor(), torch::full({1}, 0.25)); }, "prelu: x is undefined");
  expect_error([&] { graph::prelu(x, torch::Tensor()); }, "prelu: weight is undefined");
}

TEST(PreluCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = torch::randn({1000});
  const auto w = torch::full({1}, 0.3);
  EXPECT_TRUE(torch::allclose(graph::prelu(x.cuda(), w.cuda()).cpu(), graph::prelu(x, w)));
}

}  // namespace
}  // namespace graphmae2::graph
