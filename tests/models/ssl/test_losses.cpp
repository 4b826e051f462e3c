// The scaled cosine error's CPU kernel against torch's own chain (F.normalize, product, sum, pow) and its autograd.
#include "models/ssl/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <torch/torch.h>

namespace {

namespace F = torch::nn::functional;
using graphmae2::models::ssl::sce_loss_gathered_rows;
using graphmae2::models::ssl::sce_loss_rows;

// GraphMAE's formula as the reference writes it, differentiated by autograd; 1 - cos clamped at 0 as ours is.
torch::Tensor reference_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  auto xn = F::normalize(x, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  auto yn = F::normalize(y, F::NormalizeFuncOptions().p(2).dim(-1).eps(eps));
  return (1 - (xn * yn).sum(-1)).clamp_min(0).pow(alpha);
}

// Rows of every kind: random, a zero row, one below eps, one just above it, one parallel to its target.
std::pair<torch::Tensor, torch::Tensor> rows_case(int64_t n, int64_t d, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  auto x = torch::randn({n, d}, torch::kDouble);
  auto y = torch::randn({n, d}, torch::kDouble);
  if (n >= 5) {
    x[0].zero_();
    x[1].fill_(1e-8);
    y[2].fill_(1e-8);
    x[3] = y[3] * 2.5;
    y[4].fill_(1.0 / std::sqrt(static_cast<double>(d)) * 2e-6);  // norm 2e-6, just above eps = 1e-6
  }
  return {x.to(dtype), y.to(dtype)};
}

TEST(SceLoss, RowsAndBothGradientsEqualTheChainInFloat64) {
  for (const int64_t d : {1, 7, 8, 19, 64}) {
    for (const double alpha : {1.0, 2.0, 2.5, 3.0}) {
      auto [x0, y0] = rows_case(9, d, torch::kDouble, 17 + d);
      auto x = x0.clone().requires_grad_(true), y = y0.clone().requires_grad_(true);
      auto xr = x0.clone().requires_grad_(true), yr = y0.clone().requires_grad_(true);
      const auto weights = torch::rand({9}, torch::kDouble);
      const auto rows = sce_loss_rows(x, y, alpha, 1e-6);
      const auto expected = reference_rows(xr, yr, alpha, 1e-6);
      ASSERT_TRUE(torch::allclose(rows, expected, 1e-12, 1e-12)) << "d " << d << " alpha " << alpha;
      (rows * weights).sum().backward();
      (expected * weights).sum().backward();
      // A row's gradient is a difference of two terms of size about alpha 2^(alpha-1) (1/|x| + 1/|y|): rows near
      // eps cancel terms of 1e6, so the absolute tolerance scales with them.
      const auto inv_norms = 1 / x0.norm(2, -1).clamp_min(1e-6) + 1 / y0.norm(2, -1).clamp_min(1e-6);
      const auto atol = (1e-14 * alpha * std::pow(2.0, alpha - 1) * inv_norms * weights).unsqueeze(1);
      EXPECT_TRUE(((x.grad() - xr.grad()).abs() <= 1e-10 * xr.grad().abs() + atol).all().item<bool>())
          << "d " << d << " alpha " << alpha;
      EXPECT_TRUE(((y.grad() - yr.grad()).abs() <= 1e-10 * yr.grad().abs() + atol).all().item<bool>())
          << "d " << d << " alpha " << alpha;
      // The zero row and the row below eps get no gradient through their own norm, as clamp_min gives.
      EXPECT_TRUE(torch::isfinite(rows).all().item<bool>());
      EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
    }
  }
}

TEST(SceLoss, Float32AgreesWithFloat64AndOneSidedGradients) {
  auto [x64, y64] = rows_case(300, 1433, torch::kDouble, 5);
  auto x = x64.to(torch::kFloat).requires_grad_(true);
  const auto y = y64.to(torch::kFloat);  // a target without gradient, as in training
  auto xr = x64.clone().requires_grad_(true);
  const auto rows = sce_loss_rows(x, y, 3.0, 1e-6);
  const auto expected = reference_rows(xr, y64, 3.0, 1e-6);
  EXPECT_TRUE(torch::allclose(rows.to(torch::kDouble), expected, 1e-5, 1e-6));
  rows.mean().backward();
  expected.mean().backward();
  EXPECT_TRUE(torch::allclose(x.grad().to(torch::kDouble), xr.grad(), 1e-4, 1e-9));
  EXPECT_FALSE(y.grad().defined());
}

TEST(SceLoss, StridedInputsAndDoubleBackward) {
  torch::manual_seed(3);
  const auto base_x = torch::randn({12, 6}, torch::kDouble), base_y = torch::randn({6, 12}, torch::kDouble);
  auto x = base_x.clone().requires_grad_(true), y = base_y.clone().requires_grad_(true);
  auto xr = base_x.clone().requires_grad_(true), yr = base_y.clone().requires_grad_(true);
  // Every other row of x, and a transposed y: neither is contiguous.
  const auto rows = sce_loss_rows(x.slice(0, 0, 12, 2), y.t().slice(0, 1, 12, 2), 2.0, 1e-6);
  const auto expected = reference_rows(xr.slice(0, 0, 12, 2), yr.t().slice(0, 1, 12, 2), 2.0, 1e-6);
  ASSERT_TRUE(torch::allclose(rows, expected, 1e-12, 1e-12));
  // The gradient's norm, differentiated again: the kernel's backward hands double backward to the chain.
  const auto g = torch::autograd::grad({rows.sum()}, {x, y}, {}, true, true);
  const auto gr = torch::autograd::grad({expected.sum()}, {xr, yr}, {}, true, true);
  EXPECT_TRUE(torch::allclose(g[0], gr[0], 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(g[1], gr[1], 1e-10, 1e-12));
  const auto gg = torch::autograd::grad({g[0].pow(2).sum() + g[1].pow(2).sum()}, {x, y});
  const auto ggr = torch::autograd::grad({gr[0].pow(2).sum() + gr[1].pow(2).sum()}, {xr, yr});
  EXPECT_TRUE(torch::allclose(gg[0], ggr[0], 1e-9, 1e-12));
  EXPECT_TRUE(torch::allclose(gg[1], ggr[1], 1e-9, 1e-12));
}

TEST(SceLoss, GatheredRowsEqualTheLossOfTheSelectedRows) {
  // Rows picked out of a larger target, repeated and out of order; y's gradient only, as in training.
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    auto [x, y0] = rows_case(40, 19, dtype, 8);
    const auto rows = torch::tensor({7, 0, 39, 7, 3, 21, 2, 1, 4}, torch::kLong);
    const auto y_base = y0.narrow(0, 0, rows.size(0)).clone();
    auto y = y_base.clone().requires_grad_(true), y_ref = y_base.clone().requires_grad_(true);
    const auto weights = torch::rand({rows.size(0)}, dtype);
    const auto got = sce_loss_gathered_rows(x, rows, y, 2.5, 1e-6);
    const auto expected = sce_loss_rows(x.index_select(0, rows), y_ref, 2.5, 1e-6);
    EXPECT_TRUE(torch::equal(got, expected)) << dtype;
    (got * weights).sum().backward();
    (expected * weights).sum().backward();
    EXPECT_TRUE(torch::equal(y.grad(), y_ref.grad())) << dtype;
    // Against the reference formula too, not only against the kernel on a gathered copy.
    EXPECT_TRUE(torch::allclose(got.to(torch::kDouble),
                                reference_rows(x.index_select(0, rows), y_base, 2.5, 1e-6).to(torch::kDouble),
                                dtype == torch::kDouble ? 1e-12 : 1e-5, dtype == torch::kDouble ? 1e-12 : 1e-6));
  }
  // A target that wants a gradient takes the gather, and gets its gradient at the picked rows (twice for row 7).
  torch::manual_seed(4);
  auto x = torch::randn({10, 6}, torch::kDouble).requires_grad_(true);
  auto xr = x.detach().clone().requires_grad_(true);
  const auto y = torch::randn({4, 6}, torch::kDouble);
  const auto rows = torch::tensor({7, 2, 7, 0}, torch::kLong);
  sce_loss_gathered_rows(x, rows, y, 3.0, 1e-6).sum().backward();
  reference_rows(xr.index_select(0, rows), y, 3.0, 1e-6).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-12, 1e-12));
  EXPECT_EQ(x.grad()[5].abs().sum().item<double>(), 0.0);
  // Rows outside x, of the wrong type or count, and widths that differ are refused.
  const auto x0 = torch::randn({10, 6}, torch::kDouble);
  EXPECT_THROW(sce_loss_gathered_rows(x0, torch::tensor({1, 10, 2, 3}, torch::kLong), y, 3.0, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_gathered_rows(x0, torch::tensor({1, -1, 2, 3}, torch::kLong), y, 3.0, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_gathered_rows(x0, torch::tensor({1, 2, 3, 4}, torch::kFloat), y, 3.0, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_gathered_rows(x0, torch::tensor({1, 10, 2, 3}, torch::kInt), y, 3.0, 1e-6), c10::Error);
  // int32 ids read the same rows as int64 ones.
  EXPECT_TRUE(torch::equal(sce_loss_gathered_rows(x0, torch::tensor({9, 2, 9, 0}, torch::kInt), y, 3.0, 1e-6),
                           sce_loss_gathered_rows(x0, torch::tensor({9, 2, 9, 0}, torch::kLong), y, 3.0, 1e-6)));
  EXPECT_THROW(sce_loss_gathered_rows(x0, torch::tensor({1, 2, 3}, torch::kLong), y, 3.0, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_gathered_rows(torch::randn({10, 5}, torch::kDouble), rows, y, 3.0, 1e-6), c10::Error);
}

TEST(SceLoss, RefusesWhatItCannotCompute) {
  EXPECT_THROW(sce_loss_rows(torch::ones({2, 3}), torch::ones({3, 3}), 2, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_rows(torch::ones({2, 3}), torch::ones({2, 3}), 0.5, 1e-6), c10::Error);
  EXPECT_THROW(sce_loss_rows(torch::ones({2, 3}), torch::ones({2, 3}), 2, 0.0), c10::Error);
  EXPECT_THROW(sce_loss_rows(torch::ones({2, 3, 1}), torch::ones({2, 3, 1}), 2, 1e-6), c10::Error);
}

}  // namespace
