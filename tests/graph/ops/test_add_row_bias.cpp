// graph::add_row_bias_ against x + bias (ATen's broadcast add) and its autograd.

#include "graph/ops/add_row_bias.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

namespace graphmae2::graph {
namespace {

using testing::expect_error;

TEST(AddRowBias, EqualsTheBroadcastAddInPlaceWithItsGradients) {
  torch::manual_seed(2);
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-4;
    for (const auto& [rows, width] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {7, 3}, {513, 33}, {0, 4}}) {
      const auto opts = torch::TensorOptions().dtype(dtype);
      auto a = torch::randn({rows, 6}, opts).requires_grad_(true), b = torch::randn({6, width}, opts);
      auto bias = torch::randn({width}, opts).requires_grad_(true);
      auto a_ref = a.detach().clone().requires_grad_(true), bias_ref = bias.detach().clone().requires_grad_(true);
      auto product = torch::mm(a, b);
      const auto* storage = product.data_ptr();
      const auto got = add_row_bias_(product, bias);
      EXPECT_EQ(got.data_ptr(), storage);  // written into the product
      const auto expected = torch::mm(a_ref, b) + bias_ref;
      EXPECT_TRUE(torch::equal(got, expected)) << rows << " x " << width;
      const auto g = torch::randn({rows, width}, opts);
      (got * g).sum().backward();
      (expected * g).sum().backward();
      EXPECT_TRUE(torch::allclose(bias.grad(), bias_ref.grad(), tol, tol)) << rows << " x " << width;
      EXPECT_TRUE(torch::allclose(a.grad(), a_ref.grad(), tol, tol)) << rows << " x " << width;
    }
  }
}

TEST(AddRowBias, Float64GradientsMatchFiniteDifferences) {
  torch::manual_seed(3);
  testing::expect_gradients_match_finite_differences(
      [](const std::vector<torch::Tensor>& in) { return add_row_bias_(in[0] * 1.0, in[1]); },  // a fresh tensor
      {torch::randn({5, 4}, torch::kDouble), torch::randn({4}, torch::kDouble)}, {true, true});
}

TEST(AddRowBias, NonContiguousProduct) {
  auto x = torch::randn({4, 6}, torch::kDouble).t();  // [6, 4], column-major
  const auto expected = x + torch::arange(4, torch::kDouble);
  EXPECT_TRUE(torch::equal(add_row_bias_(x, torch::arange(4, torch::kDouble)), expected));
}

TEST(AddRowBias, RejectsBadInputsNamingThem) {
  const auto x = torch::randn({3, 4});
  expect_error([&] { add_row_bias_(x.clone(), torch::zeros({5})); },
               "add_row_bias_: bias should be [4] (x's width), got [5]");
  expect_error([&] { add_row_bias_(torch::zeros({3}), torch::zeros({3})); },
               "add_row_bias_: x should be a 2-D [N, W] tensor, got 1-D with shape [3]");
  expect_error([&] { add_row_bias_(x.clone(), torch::zeros({4}, torch::kDouble)); },
               "add_row_bias_: x is Float on cpu, bias is Double on cpu");
  expect_error([&] { add_row_bias_(torch::Tensor(), torch::zeros({4})); }, "must be defined, got 0, 1");
}

TEST(AddRowBiasCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto x = torch::randn({30, 7}), bias = torch::randn({7});
  EXPECT_TRUE(torch::equal(add_row_bias_(x.cuda(), bias.cuda()).cpu(), add_row_bias_(x.clone(), bias)));
}

}  // namespace
}  // namespace graphmae2::graph
