#include "graph/ops/spmm.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <gtest/gtest.h>

#include <vector>

namespace graphmae2::graph {
namespace {

using testing::expect_error;

std::vector<int64_t> to_vector(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

torch::Tensor randn(std::vector<int64_t> shape, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return torch::randn(shape, gen, torch::TensorOptions().dtype(dtype));
}

// Plain-loop reference in double: out[r, h, f] = sum_e w[e, h] * x[col(e), h, f].
torch::Tensor reference_spmm(const CsrGraph& g, const torch::Tensor& w_in, const torch::Tensor& x_in) {
  const auto w = w_in.to(torch::kDouble).contiguous();
  const auto x = x_in.to(torch::kDouble).contiguous();
  const auto ip = to_vector(g.indptr), ix = to_vector(g.indices);
  const int64_t H = x.size(1), F = x.size(2);
  auto out = torch::zeros({g.num_rows(), H, F}, torch::kDouble);
  auto wa = w.accessor<double, 2>();
  auto xa = x.accessor<double, 3>();
  auto oa = out.accessor<double, 3>();
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t e = ip[r]; e < ip[r + 1]; ++e) {
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t f = 0; f < F; ++f) oa[r][h][f] += wa[e][h] * xa[ix[e]][h][f];
      }
    }
  }
  return out;
}

// Analytic gradients by plain loops: grad_w[e, h] = <g[r, h, :], x[c, h, :]>, grad_x[c] += w[e, h] * g[r, h, :].
std::pair<torch::Tensor, torch::Tensor> reference_grads(const CsrGraph& g, const torch::Tensor& w,
                                                        const torch::Tensor& x, const torch::Tensor& gout) {
  const auto ip = to_vector(g.indptr), ix = to_vector(g.indices);
  const int64_t H = x.size(1), F = x.size(2);
  auto gw = torch::zeros_like(w);
  auto gx = torch::zeros_like(x);
  auto wa = w.accessor<double, 2>();
  auto xa = x.accessor<double, 3>();
  auto ga = gout.accessor<double, 3>();
  auto gwa = gw.accessor<double, 2>();
  auto gxa = gx.accessor<double, 3>();
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t e = ip[r]; e < ip[r + 1]; ++e) {
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t f = 0; f < F; ++f) {
          gwa[e][h] += ga[r][h][f] * xa[ix[e]][h][f];
          gxa[ix[e]][h][f] += wa[e][h] * ga[r][h][f];
        }
      }
    }
  }
  return {gw, gx};
}

// Differentiable torch-ops formulation: the reference for double backward.
torch::Tensor torch_ops_spmm(const CsrGraph& g, const torch::Tensor& w, const torch::Tensor& x) {
  auto msgs = x.index_select(0, g.indices) * w.unsqueeze(-1);
  return torch::zeros({g.num_rows(), x.size(1), x.size(2)}, x.options()).index_add(0, g.row_ids(), msgs);
}

TEST(Spmm, ForwardMatchesLoopFloat64) {
  for (const auto& edges : {testing::tiny_edges(), testing::bipartite_edges()}) {
    const auto g = edges.graph();
    const auto w = randn({g.num_edges(), 2}, torch::kDouble, 1);
    const auto x = randn({g.num_cols, 2, 3}, torch::kDouble, 2);
    const auto out = spmm(g, w, x);
    ASSERT_EQ(out.sizes(), (std::vector<int64_t>{g.num_rows(), 2, 3}));
    EXPECT_TRUE(torch::allclose(out, reference_spmm(g, w, x), 1e-12, 1e-14)) << g.summary();
  }
}

TEST(Spmm, ForwardMatchesLoopFloat32OnParallelPath) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    // Odd F (tail of the vector loops), skewed degrees, more columns than rows.
    auto edges = testing::random_edges(1500, 1700, 12000, 3);
    for (int64_t i = 0; i < 1700; ++i) {
      edges.rows.push_back(11);
      edges.cols.push_back(i);
    }
    const auto g = edges.graph();
    const auto w = randn({g.num_edges(), 3}, torch::kFloat, 4);
    const auto x = randn({g.num_cols, 3, 13}, torch::kFloat, 5);
    const auto out = spmm(g, w, x);
    EXPECT_EQ(out.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::allclose(out.to(torch::kDouble), reference_spmm(g, w, x), 1e-4, 1e-4));
  });
}

TEST(Spmm, GradientsMatchFiniteDifferences) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    for (const auto& edges : {testing::tiny_edges(), testing::bipartite_edges()}) {
      const auto g = edges.graph();
      const auto w = randn({g.num_edges(), 2}, torch::kDouble, 6).requires_grad_(true);
      const auto x = randn({g.num_cols, 2, 3}, torch::kDouble, 7).requires_grad_(true);
      const auto weight = randn({g.num_rows(), 2, 3}, torch::kDouble, 8);
      const auto grads = torch::autograd::grad({(spmm(g, w, x) * weight).sum()}, {w, x});

      const double eps = 1e-6;
      const auto loss = [&](const torch::Tensor& wv, const torch::Tensor& xv) {
        return (reference_spmm(g, wv, xv) * weight).sum().item<double>();
      };
      const auto wd = w.detach(), xd = x.detach();
      auto nw = torch::zeros_like(wd);
      for (int64_t i = 0; i < wd.numel(); ++i) {
        auto p = wd.clone(), m = wd.clone();
        p.view(-1)[i] += eps;
        m.view(-1)[i] -= eps;
        nw.view(-1)[i] = (loss(p, xd) - loss(m, xd)) / (2 * eps);
      }
      auto nx = torch::zeros_like(xd);
      for (int64_t i = 0; i < xd.numel(); ++i) {
        auto p = xd.clone(), m = xd.clone();
        p.view(-1)[i] += eps;
        m.view(-1)[i] -= eps;
        nx.view(-1)[i] = (loss(wd, p) - loss(wd, m)) / (2 * eps);
      }
      EXPECT_TRUE(torch::allclose(grads[0], nw, 1e-6, 1e-8)) << g.summary();
      EXPECT_TRUE(torch::allclose(grads[1], nx, 1e-6, 1e-8)) << g.summary();
    }
  });
}

TEST(Spmm, GradientsMatchAnalyticLoopOnParallelPath) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    const auto g = testing::random_edges(1200, 1000, 9000, 9).graph();
    const auto w = randn({g.num_edges(), 2}, torch::kDouble, 10).requires_grad_(true);
    const auto x = randn({g.num_cols, 2, 9}, torch::kDouble, 11).requires_grad_(true);
    const auto gout = randn({g.num_rows(), 2, 9}, torch::kDouble, 12);
    const auto grads = torch::autograd::grad({spmm(g, w, x)}, {w, x}, {gout});
    const auto [gw, gx] = reference_grads(g, w.detach(), x.detach(), gout);
    EXPECT_TRUE(torch::allclose(grads[0], gw, 1e-10, 1e-12));
    EXPECT_TRUE(torch::allclose(grads[1], gx, 1e-10, 1e-12));
  });
}

TEST(Spmm, XGradientOfFewWideColumnsAndOfManyNarrowOnes) {
  // Few columns, wide rows (the sparse projection: columns are feature ids, each gathering many rows), and many
  // narrow columns (a graph).
  struct Case {
    int64_t rows, cols, edges, heads, width;
    torch::Dtype dtype;
  };
  for (const auto& c : {Case{500, 300, 6000, 1, 1024, torch::kFloat}, Case{400, 37, 3000, 2, 100, torch::kDouble},
                        Case{300, 20000, 5000, 1, 16, torch::kFloat}}) {
    const auto g = testing::random_edges(c.rows, c.cols, c.edges, 21).graph();
    const auto w = randn({g.num_edges(), c.heads}, c.dtype, 22);
    const auto x = randn({g.num_cols, c.heads, c.width}, c.dtype, 23).requires_grad_(true);
    const auto gout = randn({g.num_rows(), c.heads, c.width}, c.dtype, 24);
    const auto gx = torch::autograd::grad({spmm(g, w, x)}, {x}, {gout})[0];
    const auto expected =
        reference_grads(g, w.to(torch::kDouble), x.detach().to(torch::kDouble), gout.to(torch::kDouble)).second;
    EXPECT_TRUE(torch::allclose(gx.to(torch::kDouble), expected, 1e-5, 1e-5)) << c.cols << " columns";
  }
}

TEST(Spmm, GradientOfOneInputOnly) {
  const auto g = testing::tiny_edges().graph();
  const auto w = randn({g.num_edges(), 2}, torch::kDouble, 13);
  const auto x = randn({g.num_cols, 2, 4}, torch::kDouble, 14);
  const auto gout = randn({g.num_rows(), 2, 4}, torch::kDouble, 15);
  const auto [gw, gx] = reference_grads(g, w, x, gout);
  const auto xr = x.clone().requires_grad_(true);
  EXPECT_TRUE(torch::allclose(torch::autograd::grad({spmm(g, w, xr)}, {xr}, {gout})[0], gx, 1e-12, 1e-14));
  const auto wr = w.clone().requires_grad_(true);
  EXPECT_TRUE(torch::allclose(torch::autograd::grad({spmm(g, wr, x)}, {wr}, {gout})[0], gw, 1e-12, 1e-14));
}

TEST(Spmm, DoubleBackwardMatchesTorchOps) {
  const auto g = testing::tiny_edges().graph();
  const auto w = randn({g.num_edges(), 2}, torch::kDouble, 16).requires_grad_(true);
  const auto x = randn({g.num_cols, 2, 3}, torch::kDouble, 17).requires_grad_(true);
  const auto weight = randn({g.num_rows(), 2, 3}, torch::kDouble, 18);
  const auto second = [&](auto&& op) {
    // L = sum((d/dx sum(op * weight))^2): its gradient w.r.t. w goes through the x-gradient's formula.
    const auto gx = torch::autograd::grad({(op(g, w, x) * weight).sum()}, {x}, {}, true, true)[0];
    const auto gw = torch::autograd::grad({(op(g, w, x) * weight).sum()}, {w}, {}, true, true)[0];
    return torch::autograd::grad({gx.pow(2).sum() + (gw * gw).sum()}, {w, x});
  };
  const auto got = second([](const auto& a, const auto& b, const auto& c) { return spmm(a, b, c); });
  const auto expected = second([](const auto& a, const auto& b, const auto& c) { return torch_ops_spmm(a, b, c); });
  EXPECT_TRUE(torch::allclose(got[0], expected[0], 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(got[1], expected[1], 1e-10, 1e-12));
}

TEST(Spmm, EmptyRowsAndZeroEdges) {
  const auto g = testing::empty_edges(4).graph();
  const auto w = torch::zeros({0, 2}, torch::kFloat).requires_grad_(true);
  const auto x = torch::ones({4, 2, 3}, torch::kFloat).requires_grad_(true);
  const auto out = spmm(g, w, x);
  EXPECT_TRUE(torch::equal(out, torch::zeros({4, 2, 3})));
  const auto grads = torch::autograd::grad({out.sum()}, {w, x});
  EXPECT_EQ(grads[0].sizes(), (std::vector<int64_t>{0, 2}));
  EXPECT_TRUE(torch::equal(grads[1], torch::zeros({4, 2, 3})));
  // Rows 3 and 5 of the tiny graph have no edges: their outputs are exactly zero.
  const auto t = testing::tiny_edges().graph();
  const auto ot = spmm(t, torch::ones({t.num_edges(), 1}), torch::ones({6, 1, 2}));
  EXPECT_TRUE(torch::equal(ot[3], torch::zeros({1, 2})));
  EXPECT_TRUE(torch::equal(ot[5], torch::zeros({1, 2})));
  // Zero features.
  EXPECT_EQ(spmm(t, torch::ones({t.num_edges(), 2}), torch::ones({6, 2, 0})).sizes(), (std::vector<int64_t>{6, 2, 0}));
}

TEST(Spmm, NonContiguousInputs) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    const auto g = testing::bipartite_edges().graph();
    const auto w = randn({3, g.num_edges()}, torch::kDouble, 19).t();                 // [E, H] transposed
    const auto x = randn({2, g.num_cols, 4}, torch::kDouble, 20).permute({1, 0, 2});  // [C, H, F] permuted
    const auto wc = randn({g.num_edges(), 3}, torch::kDouble, 21);
    const auto xs = randn({g.num_cols, 3, 8}, torch::kDouble, 22).slice(2, 0, 8, 2);  // strided features
    ASSERT_FALSE(w.is_contiguous());
    ASSERT_FALSE(x.is_contiguous());
    ASSERT_FALSE(xs.is_contiguous());
    EXPECT_TRUE(torch::allclose(spmm(g, w.slice(1, 0, 2), x), reference_spmm(g, w.slice(1, 0, 2), x), 1e-12, 1e-14));
    EXPECT_TRUE(torch::allclose(spmm(g, wc, xs), reference_spmm(g, wc, xs), 1e-12, 1e-14));
  });
}

TEST(Spmm, RejectsBadInputs) {
  const auto g = testing::bipartite_edges().graph();  // 3 x 5, 5 edges
  const auto w = torch::ones({5, 2});
  const auto x = torch::ones({5, 2, 3});
  expect_error([&] { spmm(g, w, torch::ones({5, 6})); }, "got 2-D");
  expect_error([&] { spmm(g, torch::ones({5}), x); }, "got 1-D");
  expect_error([&] { spmm(g, w, torch::ones({3, 2, 3})); }, "x has 3 rows but the graph has 5 columns");
  expect_error([&] { spmm(g, torch::ones({4, 2}), x); }, "edge_weights has 4 rows but the graph has 5 edges");
  expect_error([&] { spmm(g, torch::ones({5, 3}), x); }, "x has 2 heads but edge_weights has 3");
  expect_error([&] { spmm(g, w, x.to(torch::kDouble)); }, "edge_weights is Float but x is Double");
  expect_error([&] { spmm(g, w.to(torch::kInt64), x.to(torch::kInt64)); }, "got Long");
}

TEST(Spmm, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto g = testing::random_edges(700, 600, 6000, 23).graph();
  for (auto dtype : {torch::kFloat, torch::kDouble}) {
    const auto w = randn({g.num_edges(), 4}, dtype, 24).requires_grad_(true);
    const auto x = randn({g.num_cols, 4, 33}, dtype, 25).requires_grad_(true);
    const auto gout = randn({g.num_rows(), 4, 33}, dtype, 26);
    const auto out = spmm(g, w, x);
    const auto grads = torch::autograd::grad({out}, {w, x}, {gout});
    const auto wc = w.detach().cuda().requires_grad_(true);
    const auto xc = x.detach().cuda().requires_grad_(true);
    const auto out_c = spmm(g.to(torch::kCUDA), wc, xc);
    const auto grads_c = torch::autograd::grad({out_c}, {wc, xc}, {gout.cuda()});
    const double tol = dtype == torch::kFloat ? 1e-4 : 1e-12;
    EXPECT_TRUE(torch::allclose(out_c.cpu(), out, tol, tol));
    EXPECT_TRUE(torch::allclose(grads_c[0].cpu(), grads[0], tol, tol));
    EXPECT_TRUE(torch::allclose(grads_c[1].cpu(), grads[1], tol, tol));
  }
}

}  // namespace
}  // namespace graphmae2::graph
