#include "graph/ops/segment_softmax.h"

#include "fixtures/graphs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace graphmae2::graph {
namespace {

using testing::EdgeList;
using testing::expect_error;

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

// Plain-loop reference in long double: softmax over each row's edges, head by head.
torch::Tensor reference_softmax(const torch::Tensor& scores, const CsrGraph& g) {
  const auto s = scores.to(torch::kDouble).contiguous();
  const auto ip = to_vector(g.indptr);
  const int64_t H = s.size(1);
  auto out = torch::zeros_like(s);
  auto sa = s.accessor<double, 2>();
  auto oa = out.accessor<double, 2>();
  for (int64_t r = 0; r + 1 < static_cast<int64_t>(ip.size()); ++r) {
    for (int64_t h = 0; h < H; ++h) {
      long double mx = -std::numeric_limits<long double>::infinity(), sum = 0;
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) mx = std::max<long double>(mx, sa[e][h]);
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) sum += std::exp(static_cast<long double>(sa[e][h]) - mx);
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) {
        oa[e][h] = static_cast<double>(std::exp(static_cast<long double>(sa[e][h]) - mx) / sum);
      }
    }
  }
  return out;
}

// The first torch-ops formulation, differentiable twice: the reference for double backward.
torch::Tensor torch_ops_softmax(const torch::Tensor& scores, const CsrGraph& g) {
  const auto rows = g.row_ids();
  const auto idx = rows.unsqueeze(1).expand_as(scores);
  auto mx = torch::full({g.num_rows(), scores.size(1)}, -std::numeric_limits<double>::infinity(), scores.options())
                .scatter_reduce(0, idx, scores.detach(), "amax", true);
  auto e = (scores - mx.index_select(0, rows)).exp();
  auto sum = torch::zeros({g.num_rows(), scores.size(1)}, scores.options()).index_add(0, rows, e);
  return e / sum.index_select(0, rows);
}

torch::Tensor random_scores(int64_t E, int64_t H, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn({E, H}, gen, torch::TensorOptions().dtype(dtype)) * 3;
}

TEST(SegmentSoftmax, ForwardMatchesLoopFloat64) {
  const auto g = testing::tiny_edges().graph();
  const auto s = random_scores(g.num_edges(), 3, torch::kDouble, 1);
  const auto out = segment_softmax(s, g);
  ASSERT_EQ(out.sizes(), s.sizes());
  EXPECT_TRUE(torch::allclose(out, reference_softmax(s, g), 1e-12, 1e-14));
  // Each non-empty row sums to one per head.
  const auto ip = to_vector(g.indptr);
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    if (ip[r] == ip[r + 1]) continue;
    const auto sums = out.slice(0, ip[r], ip[r + 1]).sum(0);
    EXPECT_TRUE(torch::allclose(sums, torch::ones_like(sums), 1e-12, 1e-12)) << "row " << r;
  }
}

TEST(SegmentSoftmax, ForwardMatchesLoopFloat32OnParallelPath) {
  // Large enough (~160k units of work) to be split over threads, with skewed degrees.
  auto edges = testing::random_edges(2000, 2000, 18000, 2);
  for (int64_t i = 0; i < 2000; ++i) {  // node 7 gets a hub row
    edges.rows.push_back(7);
    edges.cols.push_back(i);
  }
  const auto g = edges.graph();
  const auto s = random_scores(g.num_edges(), 4, torch::kFloat, 3);
  const auto out = segment_softmax(s, g);
  EXPECT_EQ(out.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), reference_softmax(s, g), 1e-5, 1e-7));
}

TEST(SegmentSoftmax, LargeScoresDoNotOverflow) {
  const auto g = testing::tiny_edges().graph();
  const auto s = random_scores(g.num_edges(), 2, torch::kFloat, 4) + 1000.0;
  const auto out = segment_softmax(s, g);
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), reference_softmax(s, g), 1e-5, 1e-6));
}

TEST(SegmentSoftmax, GradientMatchesFiniteDifferences) {
  const auto g = testing::tiny_edges().graph();
  const auto s = random_scores(g.num_edges(), 3, torch::kDouble, 5).requires_grad_(true);
  const auto weight = random_scores(g.num_edges(), 3, torch::kDouble, 6);
  const auto loss = (segment_softmax(s, g) * weight).sum();
  const auto grad = torch::autograd::grad({loss}, {s})[0];

  // Central differences of the plain-loop reference.
  const double eps = 1e-6;
  auto numeric = torch::zeros_like(grad);
  auto base = s.detach().clone();
  for (int64_t e = 0; e < s.size(0); ++e) {
    for (int64_t h = 0; h < s.size(1); ++h) {
      auto plus = base.clone(), minus = base.clone();
      plus[e][h] += eps;
      minus[e][h] -= eps;
      const double lp = (reference_softmax(plus, g) * weight).sum().item<double>();
      const double lm = (reference_softmax(minus, g) * weight).sum().item<double>();
      numeric[e][h] = (lp - lm) / (2 * eps);
    }
  }
  EXPECT_TRUE(torch::allclose(grad, numeric, 1e-6, 1e-8)) << grad - numeric;
}

TEST(SegmentSoftmax, GradientMatchesAnalyticLoopOnParallelPath) {
  const auto g = testing::random_edges(3000, 3000, 30000, 7).graph();
  const auto s = random_scores(g.num_edges(), 4, torch::kDouble, 8).requires_grad_(true);
  const auto gout = random_scores(g.num_edges(), 4, torch::kDouble, 9);
  const auto out = segment_softmax(s, g);
  const auto grad = torch::autograd::grad({out}, {s}, {gout})[0];
  // d/ds_e = y_e * (g_e - sum_{e' in row} y_e' g_e'), per head.
  const auto y = reference_softmax(s.detach(), g);
  auto expected = torch::zeros_like(y);
  const auto ip = to_vector(g.indptr);
  auto ya = y.accessor<double, 2>();
  auto ga = gout.accessor<double, 2>();
  auto xa = expected.accessor<double, 2>();
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t h = 0; h < 4; ++h) {
      double dot = 0;
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) dot += ya[e][h] * ga[e][h];
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) xa[e][h] = ya[e][h] * (ga[e][h] - dot);
    }
  }
  EXPECT_TRUE(torch::allclose(grad, expected, 1e-10, 1e-12));
}

TEST(SegmentSoftmax, DoubleBackwardMatchesTorchOps) {
  const auto g = testing::tiny_edges().graph();
  const auto s = random_scores(g.num_edges(), 2, torch::kDouble, 10).requires_grad_(true);
  const auto w = random_scores(g.num_edges(), 2, torch::kDouble, 11);
  const auto v = random_scores(g.num_edges(), 2, torch::kDouble, 12);
  const auto second = [&](auto&& op) {
    const auto first = torch::autograd::grad({(op(s, g) * w).sum()}, {s}, {}, true, true)[0];
    return torch::autograd::grad({(first * v).sum()}, {s})[0];
  };
  const auto got = second([](const auto& a, const auto& b) { return segment_softmax(a, b); });
  const auto expected = second([](const auto& a, const auto& b) { return torch_ops_softmax(a, b); });
  EXPECT_TRUE(torch::allclose(got, expected, 1e-10, 1e-12));
  EXPECT_GT(expected.abs().max().item<double>(), 1e-3);  // the check has something to compare
}

TEST(SegmentSoftmax, EmptyRowsAndZeroEdges) {
  const auto g = testing::empty_edges(4).graph();
  const auto s = torch::zeros({0, 3}, torch::kFloat).requires_grad_(true);
  const auto out = segment_softmax(s, g);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 3}));
  const auto grad = torch::autograd::grad({out.sum()}, {s}, {}, std::nullopt, false, true)[0];
  EXPECT_EQ(grad.sizes(), (std::vector<int64_t>{0, 3}));

  // Zero heads.
  const auto tiny = testing::tiny_edges().graph();
  EXPECT_EQ(segment_softmax(torch::zeros({tiny.num_edges(), 0}), tiny).sizes(),
            (std::vector<int64_t>{tiny.num_edges(), 0}));
}

TEST(SegmentSoftmax, NonContiguousScores) {
  const auto g = testing::tiny_edges().graph();
  const auto t = random_scores(3, g.num_edges(), torch::kDouble, 13);  // [H, E]
  const auto s = t.t();
  ASSERT_FALSE(s.is_contiguous());
  EXPECT_TRUE(torch::allclose(segment_softmax(s, g), reference_softmax(s.contiguous(), g), 1e-12, 1e-14));
  // Every other column of a wider tensor.
  const auto wide = random_scores(g.num_edges(), 6, torch::kDouble, 14);
  const auto strided = wide.slice(1, 0, 6, 2);
  EXPECT_TRUE(torch::allclose(segment_softmax(strided, g), reference_softmax(strided.contiguous(), g), 1e-12, 1e-14));
}

TEST(SegmentSoftmax, RejectsBadInputs) {
  const auto g = testing::tiny_edges().graph();
  const int64_t E = g.num_edges();
  expect_error([&] { segment_softmax(torch::zeros({E, 2, 1}), g); }, "got 3-D");
  expect_error([&] { segment_softmax(torch::zeros({E + 1, 2}), g); }, "scores has 13 rows but the graph has 12 edges");
  expect_error([&] { segment_softmax(torch::zeros({E, 2}, torch::kInt64), g); }, "got Long");
  expect_error([&] { segment_softmax(torch::zeros({E, 2}, torch::kHalf), g); }, "got Half");
  expect_error([&] { segment_softmax(torch::Tensor(), g); }, "undefined");
}

TEST(SegmentSoftmax, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto g = testing::random_edges(500, 500, 5000, 15).graph();
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto s = random_scores(g.num_edges(), 4, dtype, 16).requires_grad_(true);
    const auto gout = random_scores(g.num_edges(), 4, dtype, 17);
    const auto out = segment_softmax(s, g);
    const auto grad = torch::autograd::grad({out}, {s}, {gout})[0];
    const auto sc = s.detach().cuda().requires_grad_(true);
    const auto gc = g.to(torch::kCUDA);
    const auto out_c = segment_softmax(sc, gc);
    const auto grad_c = torch::autograd::grad({out_c}, {sc}, {gout.cuda()})[0];
    const double tol = dtype == torch::kFloat ? 1e-5 : 1e-12;
    EXPECT_TRUE(torch::allclose(out_c.cpu(), out, tol, tol));
    EXPECT_TRUE(torch::allclose(grad_c.cpu(), grad, tol, tol));
  }
}

}  // namespace
}  // namespace graphmae2::graph
