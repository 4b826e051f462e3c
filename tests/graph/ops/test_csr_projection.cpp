// graph::csr_projection against the dense product of the matrix its pattern and values describe.

#include "graph/ops/csr_projection.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

namespace graphmae2::graph {
namespace {

using testing::expect_error;

struct Case {
  CsrGraph pattern;
  torch::Tensor values, dense;  // dense: the [R, C] matrix
};

// A random pattern of `nnz` entries (duplicates allowed: the dense matrix sums them) with random values.
Case random_case(int64_t rows, int64_t cols, int64_t nnz, torch::Dtype dtype, uint64_t seed) {
  const auto pattern = testing::random_edges(rows, cols, nnz, seed).graph();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
  const auto values = torch::randn({pattern.num_edges()}, gen, torch::TensorOptions().dtype(dtype));
  // COO to dense sums duplicate entries.
  const auto dense =
      torch::sparse_coo_tensor(torch::stack({pattern.row_ids(), pattern.indices}), values, {rows, cols}).to_dense();
  return {pattern, values, dense};
}

TEST(CsrProjection, ValueAndWeightGradientEqualTheDenseProduct) {
  for (const auto dtype : {torch::kDouble, torch::kFloat}) {
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    for (const auto& [rows, cols, nnz, out] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
             {1, 1, 1, 1}, {7, 5, 12, 3}, {60, 33, 200, 17}, {9, 4, 0, 2}}) {
      const auto c = random_case(rows, cols, nnz, dtype, 3 + rows);
      auto w = torch::randn({cols, out}, torch::TensorOptions().dtype(dtype)).requires_grad_(true);
      auto w_ref = w.detach().clone().requires_grad_(true);
      const auto got = csr_projection(c.pattern, c.values, w);
      const auto expected = torch::mm(c.dense, w_ref);
      EXPECT_TRUE(torch::allclose(got, expected, tol, tol)) << rows << " rows";
      const auto g = torch::randn(got.sizes(), got.options());
      (got * g).sum().backward();
      (expected * g).sum().backward();
      EXPECT_TRUE(torch::allclose(w.grad(), w_ref.grad(), tol, tol)) << rows << " rows";
    }
  }
}

TEST(CsrProjection, ValuesThatNeedAGradientTakeSpmmAndGetIt) {
  testing::for_each_simd_path([](bool) {  // graph::spmm has SIMD paths
    const auto c = random_case(20, 11, 60, torch::kDouble, 5);
    auto values = c.values.clone().requires_grad_(true);
    auto dense = c.dense.clone().requires_grad_(true);
    const auto w = torch::randn({11, 4}, torch::kDouble);
    const auto got = csr_projection(c.pattern, values, w);
    const auto expected = torch::mm(dense, w);
    EXPECT_TRUE(torch::allclose(got, expected, 1e-12, 1e-12));
    got.sum().backward();
    expected.sum().backward();
    // Each value's gradient is its dense entry's (duplicates share one entry).
    const auto dense_grad = dense.grad().index({c.pattern.row_ids(), c.pattern.indices});
    EXPECT_TRUE(torch::allclose(values.grad(), dense_grad, 1e-12, 1e-12));
  });
}

TEST(CsrProjection, NonContiguousWeight) {
  const auto c = random_case(15, 8, 40, torch::kDouble, 6);
  const auto w_t = torch::randn({5, 8}, torch::kDouble).t();  // [8, 5], column-major, as weight.t() is
  ASSERT_FALSE(w_t.is_contiguous());
  EXPECT_TRUE(torch::allclose(csr_projection(c.pattern, c.values, w_t), torch::mm(c.dense, w_t), 1e-12, 1e-12));
}

TEST(CsrProjection, Float64GradientsMatchFiniteDifferences) {
  const auto c = random_case(6, 5, 12, torch::kDouble, 7);
  const auto w = torch::randn({5, 3}, torch::kDouble);
  const auto& pattern = c.pattern;
  // The CPU product (values without gradient), then the spmm path (both).
  testing::expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& in) { return csr_projection(pattern, in[0], in[1]); }, {c.values, w},
      {false, true});
  testing::expect_gradients_match_finite_differences(
      [&](const std::vector<torch::Tensor>& in) { return csr_projection(pattern, in[0], in[1]); }, {c.values, w},
      {true, true});
}

TEST(CsrProjection, RejectsBadInputsNamingThem) {
  const auto c = random_case(6, 5, 12, torch::kFloat, 8);
  const auto nnz = c.pattern.num_edges();
  const auto w = torch::randn({5, 3});
  expect_error([&] { csr_projection(c.pattern, c.values.narrow(0, 0, nnz - 1), w); },
               "csr_projection: values should be [" + std::to_string(nnz) + "] (the pattern's non-zeros), got [" +
                   std::to_string(nnz - 1) + "]");
  expect_error(
      [&] {
        csr_projection(c.pattern, c.values, torch::randn({4, 3}));
      },
      "csr_projection: weight_t should be [5, out] (the pattern's columns), got [4, 3]");
  expect_error([&] { csr_projection(c.pattern, c.values, w.to(torch::kDouble)); },
               "csr_projection: values are Float but weight_t is Double");
  expect_error([&] { csr_projection(c.pattern, torch::Tensor(), w); }, "must be defined, got 0, 1");
}

TEST(CsrProjectionCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto c = random_case(30, 10, 90, torch::kFloat, 9);
  const auto w = torch::randn({10, 6});
  const auto got = csr_projection(c.pattern.to(torch::kCUDA), c.values.cuda(), w.cuda());
  EXPECT_TRUE(torch::allclose(got.cpu(), csr_projection(c.pattern, c.values, w), 1e-5, 1e-5));
}

}  // namespace
}  // namespace graphmae2::graph
