// graph::token_rows_linear against the product it stands for, mm(token * keep, weight_t), differentiated by autograd.

#include "graph/ops/token_rows_linear.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

namespace graphmae2::graph {
namespace {

using testing::expect_error;

torch::Tensor dropout_keep(int64_t rows, int64_t features, double p, torch::Dtype dtype) {
  return torch::empty({rows, features}, torch::TensorOptions().dtype(dtype)).bernoulli_(1 - p).div_(1 - p);
}

TEST(TokenRowsLinear, EqualsTheProductOfTheDroppedTokenRowsInValueAndGradient) {
  torch::manual_seed(4);
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    const auto opts = torch::TensorOptions().dtype(dtype);
    auto keep = dropout_keep(7, 10, 0.3, dtype);
    keep[2].zero_();  // a row with every entry dropped
    auto token = torch::randn({1, 10}, opts).requires_grad_();
    auto w = torch::randn({5, 10}, opts).requires_grad_();
    auto token_ref = token.detach().clone().requires_grad_();
    auto w_ref = w.detach().clone().requires_grad_();
    auto out = token_rows_linear(token, w.t(), keep);  // weight^T as a transposed view
    auto ref = torch::mm(token_ref.expand({7, 10}) * keep, w_ref.t());
    EXPECT_TRUE(torch::allclose(out, ref, tol, tol));
    auto g = torch::randn({7, 5}, opts);
    (out * g).sum().backward();
    (ref * g).sum().backward();
    EXPECT_TRUE(torch::allclose(w.grad(), w_ref.grad(), tol, tol));
    EXPECT_TRUE(torch::allclose(token.grad(), token_ref.grad(), tol, tol));
    // A frozen token still gives the weight its gradient.
    auto w2 = w.detach().clone().requires_grad_();
    (token_rows_linear(token.detach(), w2.t().contiguous(), keep) * g).sum().backward();
    EXPECT_TRUE(torch::allclose(w2.grad(), w_ref.grad(), tol, tol));
  }
}

TEST(TokenRowsLinear, Float64GradientsMatchFiniteDifferences) {
  torch::manual_seed(5);
  const auto keep = dropout_keep(4, 6, 0.5, torch::kDouble);
  testing::expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& in) { return token_rows_linear(in[0], in[1], keep); },
      {torch::randn({1, 6}, torch::kDouble), torch::randn({6, 3}, torch::kDouble)}, {true, true});
}

TEST(TokenRowsLinear, RejectsBadInputsNamingThem) {
  const auto token = torch::randn({1, 10}), w_t = torch::randn({10, 5}), keep = torch::ones({7, 10});
  expect_error(
      [&] {
        token_rows_linear(torch::randn({2, 10}), w_t, keep);
      },
      "token_rows_linear: token has shape [2, 10], expected [1, F]");
  expect_error(
      [&] {
        token_rows_linear(token, w_t, torch::ones({7, 9}));
      },
      "token_rows_linear: keep has shape [7, 9], expected [rows, 10]");
  expect_error([&] { token_rows_linear(token, w_t.t(), keep); },  // not transposed: [5, 10]
               "token_rows_linear: weight_t has shape [5, 10], expected [10, out]");
  expect_error([&] { token_rows_linear(token, torch::Tensor(), keep); }, "must be defined, got 1, 0, 1");
}

TEST(TokenRowsLinearCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto token = torch::randn({1, 10}), w_t = torch::randn({10, 5}), keep = dropout_keep(7, 10, 0.3, torch::kFloat);
  EXPECT_TRUE(torch::allclose(token_rows_linear(token.cuda(), w_t.cuda(), keep.cuda()).cpu(),
                              token_rows_linear(token, w_t, keep), 1e-5, 1e-5));
}

}  // namespace
}  // namespace graphmae2::graph
