// graph::sce_rows and sce_gathered_rows against the chain of ATen ops (F.normalize, product, sum, clamp, pow) and its
// autograd, on both kernel paths.

#include "graph/ops/sce_rows.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

#include <cmath>

namespace graphmae2::graph {
namespace {

namespace F = torch::nn::functional;
using testing::expect_error;
using testing::for_each_simd_path;

// GraphMAE's formula as the reference writes it, differentiated by autograd; 1 - cos clamped at 0 as ours is.
torch::Tensor reference_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  auto xn = F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  auto yn = F::normalize(y, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  return (1 - (xn * yn).sum(-1)).clamp_min(0).pow(alpha);
}

std::pair<torch::Tensor, torch::Tensor> random_rows(int64_t n, int64_t d, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {torch::randn({n, d}, gen, torch::kDouble).to(dtype), torch::randn({n, d}, gen, torch::kDouble).to(dtype)};
}

// |got - expected| <= tol (1 + max |expected|) entry by entry: the gradients are differences of terms of size
// 1 / |row|, which cancel.
void expect_close(const torch::Tensor& got, const torch::Tensor& expected, double tol, const std::string& what) {
  const double scale = 1 + expected.abs().max().item<double>();
  const double diff = (got.to(torch::kDouble) - expected.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(diff, tol * scale) << what;
}

// Values and both gradients against the reference on the same inputs.
void expect_matches_reference(const torch::Tensor& x0, const torch::Tensor& y0, double alpha, double tol) {
  auto x = x0.detach().clone().requires_grad_(true), y = y0.detach().clone().requires_grad_(true);
  auto xr = x0.detach().clone().requires_grad_(true), yr = y0.detach().clone().requires_grad_(true);
  const auto rows = sce_rows(x, y, alpha, 1e-6), expected = reference_rows(xr, yr, alpha, 1e-6);
  const std::string what = "alpha " + std::to_string(alpha) + ", d " + std::to_string(x0.size(1));
  expect_close(rows, expected, tol, what + ": loss");
  rows.sum().backward();
  expected.sum().backward();
  expect_close(x.grad(), xr.grad(), tol, what + ": d x");
  expect_close(y.grad(), yr.grad(), tol, what + ": d y");
}

TEST(SceRows, ValuesAndGradientsEqualTheChainOnBothPaths) {
  for_each_simd_path([](bool) {
    // Widths around the 8-lane dot and the parallel grain (rows of every kind: tests/models/ssl/test_losses.cpp).
    for (const int64_t d : {2, 7, 8, 19, 64, 1433}) {
      for (const double alpha : {1.0, 2.5, 3.0}) {
        auto [x, y] = random_rows(9, d, torch::kDouble, 17 + d);
        expect_matches_reference(x, y, alpha, 1e-11);
        auto [xf, yf] = random_rows(33, d, torch::kFloat, 18 + d);
        expect_matches_reference(xf, yf, alpha, 1e-5);
      }
    }
  });
}

TEST(SceRows, SimdAndScalarPathsAgreeToRounding) {
  if (!simd_built()) GTEST_SKIP() << "built without SIMD paths";
  auto [x0, y0] = random_rows(300, 1433, torch::kFloat, 5);
  std::vector<torch::Tensor> outs;
  for (const bool simd : {true, false}) {
    SimdScope scope(simd);
    auto x = x0.clone().requires_grad_(true);
    const auto rows = sce_rows(x, y0, 3.0, 1e-6);
    rows.sum().backward();
    outs.insert(outs.end(), {rows.detach(), x.grad()});
  }
  EXPECT_TRUE(torch::allclose(outs[0], outs[2], 1e-5, 1e-7));
  EXPECT_TRUE(torch::allclose(outs[1], outs[3], 1e-4, 1e-9));
}

TEST(SceRows, NonContiguousInputs) {
  for_each_simd_path([](bool) {
    auto [x, y] = random_rows(12, 6, torch::kDouble, 3);
    // Every other row of x, and a transposed y: neither is contiguous.
    const auto yt = y.t().contiguous().t();
    expect_matches_reference(x.slice(0, 0, 12, 2), yt.slice(0, 1, 12, 2), 2.0, 1e-12);
  });
}

TEST(SceRows, Float64GradientsMatchFiniteDifferences) {
  for_each_simd_path([](bool) {
    auto [x, y] = random_rows(4, 5, torch::kDouble, 7);
    testing::expect_gradients_match_finite_differences(
        [](const std::vector<torch::Tensor>& in) { return sce_rows(in[0], in[1], 2.5, 1e-6); }, {x, y}, {true, true});
  });
}

TEST(SceRows, DoubleBackwardFollowsTheChain) {
  auto [x0, y0] = random_rows(6, 5, torch::kDouble, 8);
  auto x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
  const auto g = torch::autograd::grad({sce_rows(x, y0, 2.0, 1e-6).sum()}, {x}, {}, true, true)[0];
  const auto gr = torch::autograd::grad({reference_rows(xr, y0, 2.0, 1e-6).sum()}, {xr}, {}, true, true)[0];
  EXPECT_TRUE(torch::allclose(g, gr, 1e-10, 1e-12));
  const auto gg = torch::autograd::grad({g.pow(2).sum()}, {x})[0];
  const auto ggr = torch::autograd::grad({gr.pow(2).sum()}, {xr})[0];
  EXPECT_TRUE(torch::allclose(gg, ggr, 1e-9, 1e-12));
}

TEST(SceRows, GatheredRowsEqualTheRowsOfTheGather) {
  for_each_simd_path([](bool) {
    for (const auto dtype : {torch::kDouble, torch::kFloat}) {
      auto [x, y0] = random_rows(40, 19, dtype, 8);
      const auto ids = torch::tensor({7, 0, 39, 7, 3, 21, 2, 1, 4}, torch::kLong);
      const auto y_base = y0.narrow(0, 0, ids.size(0)).clone();
      auto y = y_base.clone().requires_grad_(true), y_ref = y_base.clone().requires_grad_(true);
      const auto got = sce_gathered_rows(x, ids, y, 2.5, 1e-6);
      const auto expected = sce_rows(x.index_select(0, ids), y_ref, 2.5, 1e-6);
      EXPECT_TRUE(torch::equal(got, expected)) << dtype;
      got.sum().backward();
      expected.sum().backward();
      EXPECT_TRUE(torch::equal(y.grad(), y_ref.grad())) << dtype;
      EXPECT_TRUE(torch::equal(sce_gathered_rows(x, ids.to(torch::kInt), y_base, 2.5, 1e-6), expected.detach()));
    }
  });
}

TEST(SceRows, RejectsBadInputsNamingThem) {
  const auto a = torch::ones({2, 3});
  expect_error(
      [&] {
        sce_rows(a, torch::ones({3, 3}), 2, 1e-6);
      },
      "sce_rows: x has shape [2, 3] but y has shape [3, 3]");
  expect_error([&] { sce_rows(a, a, 0.5, 1e-6); }, "sce_rows: alpha must be >= 1, got 0.5");
  expect_error([&] { sce_rows(a, a, 2, 0.0); }, "sce_rows: eps must be > 0, got 0");
  expect_error([&] { sce_rows(torch::ones({2, 3, 1}), torch::ones({2, 3, 1}), 2, 1e-6); }, "got 3-D");
  const auto x = torch::randn({10, 6}, torch::kDouble), y = torch::randn({4, 6}, torch::kDouble);
  expect_error(
      [&] {
        sce_gathered_rows(x, torch::tensor({1, 10, 2, 3}), y, 3, 1e-6);
      },
      "sce_gathered_rows: x_rows holds 10, outside x's 10 rows");
  expect_error([&] { sce_gathered_rows(x, torch::tensor({1, -1, 2, 3}), y, 3, 1e-6); }, "x_rows holds -1");
  expect_error(
      [&] {
        sce_gathered_rows(x, torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}), y, 3, 1e-6);
      },
      "expected int64 or int32 [4]");
  expect_error([&] { sce_gathered_rows(x, torch::tensor({1, 2, 3}), y, 3, 1e-6); }, "expected int64 or int32 [4]");
  const auto narrow = torch::randn({10, 5}, torch::kDouble);
  expect_error(
      [&] {
        sce_gathered_rows(narrow, torch::tensor({1, 2, 3, 4}), y, 3, 1e-6);
      },
      "sce_gathered_rows: x has shape [10, 5] but y has shape [4, 6]");
}

TEST(SceRowsCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto [x, y] = random_rows(20, 7, torch::kFloat, 2);
  EXPECT_TRUE(torch::allclose(sce_rows(x.cuda(), y.cuda(), 3.0, 1e-6).cpu(), sce_rows(x, y, 3.0, 1e-6), 1e-5, 1e-6));
}

}  // namespace
}  // namespace graphmae2::graph
