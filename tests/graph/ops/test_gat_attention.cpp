#include "graph/ops/gat_attention.h"

#include "fixtures/graphs.h"
#include "graph/ops/cpu/philox_words.h"
#include "graph/ops/op_testing.h"
#include "graph/ops/philox.h"
#include "graph/ops/segment_softmax.h"
#include "graph/ops/spmm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace graphmae2::graph {
namespace {

using testing::EdgeList;
using testing::expect_error;

struct Inputs {
  torch::Tensor feat, el, er;
};

Inputs random_inputs(const CsrGraph& g, int64_t H, int64_t D, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto opt = torch::TensorOptions().dtype(dtype);
  return {torch::randn({g.num_cols, H, D}, gen, opt), torch::randn({g.num_cols, H}, gen, opt) * 2,
          torch::randn({g.num_rows(), H}, gen, opt) * 2};
}

// Plain loops in long double: logits, softmax per row and head, the Philox keep mask, the weighted sum.
torch::Tensor reference_forward(const CsrGraph& g, const Inputs& in, double slope, double rate, uint64_t seed) {
  const auto adj = testing::adjacency(g);
  const auto feat = in.feat.to(torch::kDouble), el = in.el.to(torch::kDouble), er = in.er.to(torch::kDouble);
  const int64_t H = feat.size(1), D = feat.size(2);
  auto out = torch::zeros({g.num_rows(), H, D}, torch::kDouble);
  auto f = feat.accessor<double, 3>();
  auto l = el.accessor<double, 2>();
  auto r = er.accessor<double, 2>();
  auto o = out.accessor<double, 3>();
  int64_t edge = 0;
  for (int64_t row = 0; row < g.num_rows(); ++row) {
    const auto& srcs = adj[row];
    for (int64_t h = 0; h < H; ++h) {
      std::vector<long double> z;
      for (const int64_t s : srcs) {
        const long double pre = static_cast<long double>(l[s][h]) + r[row][h];
        z.push_back(pre > 0 ? pre : pre * slope);
      }
      long double mx = -std::numeric_limits<long double>::infinity(), sum = 0;
      for (const auto v : z) mx = std::max(mx, v);
      for (const auto v : z) sum += std::exp(v - mx);
      for (size_t k = 0; k < srcs.size(); ++k) {
        long double a = std::exp(z[k] - mx) / sum;
        if (rate > 0) {
          a = philox_keep(seed, 0, edge + static_cast<int64_t>(k), h, H, static_cast<float>(rate)) ? a / (1 - rate) : 0;
        }
        for (int64_t j = 0; j < D; ++j) o[row][h][j] += static_cast<double>(a * f[srcs[k]][h][j]);
      }
    }
    edge += static_cast<int64_t>(srcs.size());
  }
  return out;
}

// The reference chain of torch ops (what GATConv ran before), with the same Philox mask: the gradient reference.
torch::Tensor chain_forward(const CsrGraph& g, const torch::Tensor& feat, const torch::Tensor& el,
                            const torch::Tensor& er, double slope, double rate, uint64_t seed) {
  auto e = el.index_select(0, g.indices) + er.index_select(0, g.row_ids());
  e = torch::leaky_relu(e, slope);
  auto a = segment_softmax(e, g);
  if (rate > 0) {
    const int64_t E = g.num_edges(), H = feat.size(1);
    auto keep = torch::empty({E, H}, feat.options());
    auto k = keep.accessor<double, 2>();
    for (int64_t i = 0; i < E; ++i) {
      for (int64_t h = 0; h < H; ++h) {
        k[i][h] = philox_keep(seed, 0, i, h, H, static_cast<float>(rate)) ? 1 / (1 - rate) : 0;
      }
    }
    a = a * keep;
  }
  return spmm(g, a, feat);
}

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Random123's kat_vectors for philox4x32_10.
  const auto a = philox4x32({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[1], 0xe169c58du);
  EXPECT_EQ(a.v[2], 0xbc57ac4cu);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  const auto b = philox4x32({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
  const auto c = philox4x32({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(c.v[0], 0xd16cfe09u);
  EXPECT_EQ(c.v[1], 0x94fdccebu);
  EXPECT_EQ(c.v[2], 0x5001e420u);
  EXPECT_EQ(c.v[3], 0x24126ea1u);
}

// The CPU's many-blocks draw (16 per AVX-512 vector and 8 per AVX2 vector where the machine has them, the rest
// scalar) against philox4x32 one block at a time: counts around both vector widths and their sums, strides, counters
// whose low word carries into the high one.
TEST(Philox, ManyBlocksAtOnceEqualOneAtATime) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    const uint64_t seed = 0x9E3779B97F4A7C15ull, offset = 0x0000000500000007ull;
    for (const uint64_t index0 : {uint64_t{0}, uint64_t{12345}, uint64_t{0xFFFFFFFAull}, uint64_t{0x1FFFFFFF0ull}}) {
      for (const uint64_t stride : {uint64_t{1}, uint64_t{2}, uint64_t{3}}) {
        for (const int64_t n : {0, 1, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 40, 64}) {
          std::vector<std::vector<uint32_t>> words(4, std::vector<uint32_t>(n));
          uint32_t* const out[4] = {words[0].data(), words[1].data(), words[2].data(), words[3].data()};
          graphmae2::graph::cpu::philox_words(index0, stride, n, seed, offset, out);
          for (int64_t k = 0; k < n; ++k) {
            const uint64_t index = index0 + static_cast<uint64_t>(k) * stride;
            const auto expected = philox4x32({{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                                               static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}},
                                             static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
            for (int w = 0; w < 4; ++w) {
              ASSERT_EQ(words[w][k], expected.v[w])
                  << "index0 " << index0 << " stride " << stride << " n " << n << " block " << k << " word " << w;
            }
          }
        }
      }
    }
  });
}

TEST(Philox, KeepRateAndIndependenceOfHeads) {
  int64_t kept = 0, both = 0;
  const int64_t n = 200000;
  for (int64_t e = 0; e < n; ++e) {
    const bool k0 = philox_keep(42, 7, e, 0, 6, 0.3f), k5 = philox_keep(42, 7, e, 5, 6, 0.3f);
    kept += k0;
    both += k0 && k5;
  }
  EXPECT_NEAR(static_cast<double>(kept) / n, 0.7, 0.005);
  EXPECT_NEAR(static_cast<double>(both) / n, 0.49, 0.005);  // heads 0 and 5 use different Philox blocks
}

struct Case {
  const char* name;
  EdgeList edges;
  int64_t H, D;
};

EdgeList hub_edges() {
  auto hub = testing::random_edges(300, 300, 2400, 3);
  for (int64_t i = 0; i < 300; ++i) {  // a hub row, and the parallel path
    hub.rows.push_back(11);
    hub.cols.push_back(i);
  }
  return hub;
}

std::vector<Case> cases() {
  const auto hub = hub_edges();
  return {{"tiny (empty rows, self-loop, duplicate)", testing::tiny_edges(), 3, 5},
          {"bipartite block", testing::bipartite_edges(), 1, 4},
          {"no edges", testing::empty_edges(4), 2, 3},
          {"path, 5 heads x 1", testing::path_edges(9), 5, 1},
          {"random with hub, 4 heads x 33", hub, 4, 33}};
}

// cases() and widths the CUDA kernels move in 16-byte packs: one pack and two per lane, two passes over a wide
// head, rows longer than a chunk (cases()' odd widths go one element at a time); rows and sources longer than
// kGatSliceEdges (256), summed in slices (the hub's row has 300 edges and more: 2 slices).
std::vector<Case> cuda_cases() {
  auto all = cases();
  const auto hub = hub_edges();
  all.push_back({"hub, 4 heads x 64", hub, 4, 64});
  all.push_back({"hub, 2 heads x 264", hub, 2, 264});
  all.push_back({"random, 3 heads x 8", testing::random_edges(50, 40, 400, 9), 3, 8});
  auto hubs = testing::random_edges(2000, 2000, 6000, 11);
  for (int64_t i = 0; i < 2000; ++i) {  // row 5: 8 slices and more
    hubs.rows.push_back(5);
    hubs.cols.push_back(i);
  }
  for (int64_t i = 0; i < 1500; ++i) {  // source 7: 6 slices and more
    hubs.rows.push_back(i);
    hubs.cols.push_back(7);
  }
  all.push_back({"row and source hubs, 2 heads x 16", hubs, 2, 16});
  return all;
}

TEST(GatAttention, ForwardMatchesPlainLoopFloat64WithAndWithoutDropout) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    for (const auto& c : cases()) {
      const auto g = c.edges.graph();
      const auto in = random_inputs(g, c.H, c.D, torch::kDouble, 5);
      for (const double rate : {0.0, 0.4}) {
        const auto out =
            gat_attention(g, in.feat, in.el, in.er, GatAttentionOptions().negative_slope(0.2).dropout(rate).seed(99));
        const auto ref = reference_forward(g, in, 0.2, rate, 99);
        ASSERT_EQ(out.sizes(), ref.sizes()) << c.name;
        EXPECT_TRUE(torch::allclose(out, ref, 1e-11, 1e-12))
            << c.name << " rate " << rate << ": max diff " << (out - ref).abs().max().item<double>();
      }
    }
  });
}

TEST(GatAttention, ForwardFloat32CloseToFloat64) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    for (const auto& c : cases()) {
      const auto g = c.edges.graph();
      const auto in = random_inputs(g, c.H, c.D, torch::kDouble, 6);
      const auto opts = GatAttentionOptions().dropout(0.25).seed(3);
      const auto out32 =
          gat_attention(g, in.feat.to(torch::kFloat), in.el.to(torch::kFloat), in.er.to(torch::kFloat), opts);
      const auto out64 = gat_attention(g, in.feat, in.el, in.er, opts);
      EXPECT_TRUE(torch::allclose(out32.to(torch::kDouble), out64, 1e-4, 1e-5)) << c.name;
    }
  });
}

TEST(GatAttention, GradientsMatchTheChainOfOpsFloat64) {
  graphmae2::testing::for_each_simd_path([&](bool) {
    for (const auto& c : cases()) {
      const auto g = c.edges.graph();
      const auto in = random_inputs(g, c.H, c.D, torch::kDouble, 7);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(8);
      const auto grad_out = torch::randn({g.num_rows(), c.H, c.D}, gen, torch::kDouble);
      for (const double rate : {0.0, 0.5}) {
        for (const double slope : {0.2, 0.0}) {
          auto f1 = in.feat.clone().requires_grad_(true), l1 = in.el.clone().requires_grad_(true),
               r1 = in.er.clone().requires_grad_(true);
          auto f2 = in.feat.clone().requires_grad_(true), l2 = in.el.clone().requires_grad_(true),
               r2 = in.er.clone().requires_grad_(true);
          const auto fused =
              gat_attention(g, f1, l1, r1, GatAttentionOptions().negative_slope(slope).dropout(rate).seed(21));
          const auto chain = chain_forward(g, f2, l2, r2, slope, rate, 21);
          EXPECT_TRUE(torch::allclose(fused, chain, 1e-11, 1e-12)) << c.name;
          const auto g1 = torch::autograd::grad({fused}, {f1, l1, r1}, {grad_out});
          const auto g2 = torch::autograd::grad({chain}, {f2, l2, r2}, {grad_out}, /*retain_graph=*/std::nullopt,
                                                /*create_graph=*/false, /*allow_unused=*/true);
          const char* names[] = {"feat", "el", "er"};
          for (int k = 0; k < 3; ++k) {
            const auto expected = g2[k].defined() ? g2[k] : torch::zeros_like(g1[k]);
            EXPECT_TRUE(torch::allclose(g1[k], expected, 1e-10, 1e-11))
                << c.name << " rate " << rate << " slope " << slope << ": d" << names[k] << " max diff "
                << (g1[k] - expected).abs().max().item<double>();
          }
        }
      }
    }
  });
}

// The CPU forward saves the attention for backward only when one will follow; the output must not depend on it,
// and a backward from any one input's gradient must use what was saved.
TEST(GatAttention, SavingForBackwardChangesNothingAndServesEachInputAlone) {
  for (const auto& c : cases()) {
    const auto g = c.edges.graph();
    const auto in = random_inputs(g, c.H, c.D, torch::kDouble, 13);
    const auto opts = GatAttentionOptions().dropout(0.3).seed(4);
    torch::Tensor untracked;
    {
      torch::NoGradGuard no_grad;
      untracked = gat_attention(g, in.feat.clone().requires_grad_(true), in.el, in.er, opts);
    }
    auto gen = at::make_generator<at::CPUGeneratorImpl>(14);
    const auto grad_out = torch::randn({g.num_rows(), c.H, c.D}, gen, torch::kDouble);
    const char* names[] = {"feat", "el", "er"};
    for (int k = 0; k < 3; ++k) {
      std::vector<torch::Tensor> fused_in{in.feat.clone(), in.el.clone(), in.er.clone()};
      std::vector<torch::Tensor> chain_in{in.feat.clone(), in.el.clone(), in.er.clone()};
      fused_in[k].requires_grad_(true);
      chain_in[k].requires_grad_(true);
      const auto fused = gat_attention(g, fused_in[0], fused_in[1], fused_in[2], opts);
      EXPECT_TRUE(torch::equal(fused, untracked)) << c.name << ": " << names[k];
      const auto chain = chain_forward(g, chain_in[0], chain_in[1], chain_in[2], 0.2, 0.3, 4);
      const auto got = torch::autograd::grad({fused}, {fused_in[k]}, {grad_out})[0];
      const auto expected = torch::autograd::grad({chain}, {chain_in[k]}, {grad_out}, std::nullopt, false, true)[0];
      const auto reference = expected.defined() ? expected : torch::zeros_like(got);
      EXPECT_TRUE(torch::allclose(got, reference, 1e-10, 1e-11)) << c.name << ": d" << names[k];
    }
  }
}

TEST(GatAttention, DropoutRepeatsUnderManualSeedAndDiffersBetweenCalls) {
  const auto g = testing::random_edges(50, 50, 400, 4).graph();
  const auto in = random_inputs(g, 2, 8, torch::kFloat, 9);
  const auto opts = GatAttentionOptions().dropout(0.5);
  torch::manual_seed(5);
  const auto a = gat_attention(g, in.feat, in.el, in.er, opts);
  const auto b = gat_attention(g, in.feat, in.el, in.er, opts);
  torch::manual_seed(5);
  const auto a2 = gat_attention(g, in.feat, in.el, in.er, opts);
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_FALSE(torch::equal(a, b));
  // Without dropout, nothing is drawn and the output is the expectation's neighbourhood.
  const auto none = gat_attention(g, in.feat, in.el, in.er);
  EXPECT_TRUE(torch::allclose(none, reference_forward(g, in, 0.2, 0.0, 0).to(torch::kFloat), 1e-5, 1e-6));
}

TEST(GatAttention, RowsWithoutEdgesGiveZerosAndZeroGradients) {
  const auto g = testing::tiny_edges().graph();  // rows 3 and 5 have no edges
  const auto in = random_inputs(g, 2, 3, torch::kDouble, 10);
  auto er = in.er.clone().requires_grad_(true);
  const auto out = gat_attention(g, in.feat, in.el, er);
  EXPECT_TRUE(torch::equal(out[3], torch::zeros_like(out[3])));
  EXPECT_TRUE(torch::equal(out[5], torch::zeros_like(out[5])));
  out.sum().backward();
  EXPECT_TRUE(torch::equal(er.grad()[3], torch::zeros_like(er.grad()[3])));
  EXPECT_TRUE(torch::isfinite(er.grad()).all().item<bool>());
}

// The bias is written with the output: the result and every gradient must equal adding it afterwards, including
// rows without edges (which then hold the bias), with and without dropout, float64 and float32, on 1 and 2 threads.
void expect_bias_equals_adding_it_after(const torch::Device& device) {
  const int threads = at::get_num_threads();
  for (const auto& c : device.is_cuda() ? cuda_cases() : cases()) {
    const auto g = c.edges.graph().to(device);
    for (const auto dtype : {torch::kDouble, torch::kFloat}) {
      const auto in = random_inputs(c.edges.graph(), c.H, c.D, dtype, 17);
      auto gen = at::make_generator<at::CPUGeneratorImpl>(18);
      const auto opt = torch::TensorOptions().dtype(dtype);
      const auto bias0 = torch::randn({c.H * c.D}, gen, opt).to(device);
      const auto grad_out = torch::randn({g.num_rows(), c.H, c.D}, gen, opt).to(device);
      for (const double rate : {0.0, 0.3}) {
        for (const int t : {1, 2}) {
          at::set_num_threads(t);
          const auto opts = GatAttentionOptions().dropout(rate).seed(31);
          auto f1 = in.feat.to(device).requires_grad_(true), f2 = in.feat.to(device).requires_grad_(true);
          auto l1 = in.el.to(device).requires_grad_(true), l2 = in.el.to(device).requires_grad_(true);
          auto b1 = bias0.clone().requires_grad_(true), b2 = bias0.clone().requires_grad_(true);
          const auto with = gat_attention(g, f1, l1, in.er.to(device), opts, b1);
          const auto after = gat_attention(g, f2, l2, in.er.to(device), opts) + b2.view({1, c.H, c.D});
          EXPECT_TRUE(torch::equal(with, after)) << c.name << " " << dtype << " rate " << rate << " threads " << t;
          const auto g1 = torch::autograd::grad({with}, {f1, l1, b1}, {grad_out});
          const auto g2 = torch::autograd::grad({after}, {f2, l2, b2}, {grad_out});
          // CUDA sums el's gradient with atomics, so its last float bits vary from call to call.
          const double tol = device.is_cuda() && dtype == torch::kFloat ? 1e-5 : 1e-12;
          for (int k = 0; k < 3; ++k) {
            EXPECT_TRUE(torch::allclose(g1[k], g2[k], tol, tol)) << c.name << " " << dtype << " gradient " << k;
          }
        }
      }
    }
  }
  at::set_num_threads(threads);
}

TEST(GatAttention, ABiasIsTheSameAsAddingItAfterwards) {
  expect_bias_equals_adding_it_after(torch::kCPU);
  const auto g = testing::tiny_edges().graph();
  const auto in = random_inputs(g, 2, 3, torch::kFloat, 19);
  expect_error([&] { gat_attention(g, in.feat, in.el, in.er, {}, torch::zeros({5})); },
               "bias should be 6 Float values");
  expect_error([&] { gat_attention(g, in.feat, in.el, in.er, {}, torch::zeros({6}, torch::kDouble)); },
               "got [6] Double");
}

TEST(GatAttention, RejectsBadInputsNamingThem) {
  const auto g = testing::tiny_edges().graph();
  const auto in = random_inputs(g, 2, 3, torch::kFloat, 11);
  expect_error([&] { gat_attention(g, in.feat.flatten(1), in.el, in.er); }, "feat should be [num_cols, H, D]");
  expect_error([&] { gat_attention(g, in.feat, in.el.narrow(0, 0, 5), in.er); }, "el has shape [5, 2]");
  expect_error([&] { gat_attention(g, in.feat, in.el, in.er.narrow(1, 0, 1)); }, "er has shape [6, 1]");
  expect_error([&] { gat_attention(g, in.feat, in.el.to(torch::kDouble), in.er); }, "el is Double");
  expect_error([&] { gat_attention(g, in.feat.to(torch::kHalf), in.el.to(torch::kHalf), in.er.to(torch::kHalf)); },
               "got Half on cpu");
  expect_error([&] { gat_attention(g, in.feat, in.el, in.er, GatAttentionOptions().dropout(1.0)); },
               "dropout must be in [0, 1), got 1");
}

TEST(GatAttention, DoubleBackwardIsRefusedWithAWayOut) {
  const auto g = testing::tiny_edges().graph();
  const auto in = random_inputs(g, 1, 2, torch::kDouble, 12);
  auto feat = in.feat.clone().requires_grad_(true);
  const auto out = gat_attention(g, feat, in.el, in.er);
  expect_error([&] { torch::autograd::grad({out.sum()}, {feat}, {}, std::nullopt, /*create_graph=*/true); },
               "fused_attention(false)");
}

TEST(GatAttentionCuda, MatchesCpuWithTheSameSeed) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& c : cuda_cases()) {
    const auto g = c.edges.graph();
    const auto gc = g.to(torch::kCUDA);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(13);
    for (const auto dtype : {torch::kDouble, torch::kFloat}) {
      const auto in = random_inputs(g, c.H, c.D, dtype, 14);
      const auto grad_out = torch::randn({g.num_rows(), c.H, c.D}, gen, torch::TensorOptions().dtype(dtype));
      const auto opts = GatAttentionOptions().dropout(0.3).seed(77);
      auto f = in.feat.clone().requires_grad_(true), l = in.el.clone().requires_grad_(true),
           r = in.er.clone().requires_grad_(true);
      auto fc = in.feat.cuda().requires_grad_(true), lc = in.el.cuda().requires_grad_(true),
           rc = in.er.cuda().requires_grad_(true);
      const auto out = gat_attention(g, f, l, r, opts);
      const auto out_c = gat_attention(gc, fc, lc, rc, opts);
      const double tol = dtype == torch::kDouble ? 1e-11 : 1e-4;
      EXPECT_TRUE(torch::allclose(out_c.cpu(), out, tol, tol)) << c.name;
      const auto grads = torch::autograd::grad({out}, {f, l, r}, {grad_out});
      const auto grads_c = torch::autograd::grad({out_c}, {fc, lc, rc}, {grad_out.cuda()});
      for (int k = 0; k < 3; ++k) EXPECT_TRUE(torch::allclose(grads_c[k].cpu(), grads[k], tol, tol)) << c.name << k;
    }
    // float16 and bfloat16: accumulated in float32, compared with the float32 CPU result.
    const auto in = random_inputs(g, c.H, c.D, torch::kFloat, 15);
    auto feat_ref = in.feat.clone().requires_grad_(true);
    const auto ref = gat_attention(g, feat_ref, in.el, in.er, GatAttentionOptions().dropout(0.3).seed(5));
    const auto ref_grad = torch::autograd::grad({ref.sum()}, {feat_ref})[0];
    for (const auto dtype : {torch::kHalf, torch::kBFloat16}) {
      auto fc = in.feat.to(dtype).cuda().requires_grad_(true);
      const auto out_c = gat_attention(gc, fc, in.el.to(dtype).cuda(), in.er.to(dtype).cuda(),
                                       GatAttentionOptions().dropout(0.3).seed(5));
      EXPECT_TRUE(torch::allclose(out_c.cpu().to(torch::kFloat), ref, 5e-2, 5e-2)) << c.name << " " << dtype;
      out_c.sum().backward();
      EXPECT_TRUE(torch::allclose(fc.grad().cpu().to(torch::kFloat), ref_grad, 5e-2, 5e-2)) << c.name << " " << dtype;
    }
  }
}

// A feature tensor one element past a 16-byte boundary cannot be read in packs: the kernels fall back to one
// element at a time, with the same sums in the same order (bit-equal output) and the same gradients.
TEST(GatAttentionCuda, MisalignedRowsGiveTheSameResult) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  for (const auto& c : cuda_cases()) {
    if (c.D % 4 != 0) continue;  // already element by element
    const auto g = c.edges.graph().to(torch::kCUDA);
    const auto in = random_inputs(c.edges.graph(), c.H, c.D, torch::kFloat, 21);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(22);
    const auto grad_out = torch::randn({g.num_rows(), c.H, c.D}, gen, torch::kFloat).cuda();
    const auto opts = GatAttentionOptions().dropout(0.2).seed(8);
    auto aligned = in.feat.cuda().requires_grad_(true);
    auto buffer = torch::zeros({in.feat.numel() + 1}, torch::TensorOptions().device(torch::kCUDA));
    auto shifted = buffer.narrow(0, 1, in.feat.numel()).view(in.feat.sizes()).copy_(in.feat.cuda());
    ASSERT_NE(reinterpret_cast<uintptr_t>(shifted.data_ptr()) % 16, 0u);
    shifted.requires_grad_(true);
    const auto el = in.el.cuda(), er = in.er.cuda();
    const auto out_a = gat_attention(g, aligned, el, er, opts), out_s = gat_attention(g, shifted, el, er, opts);
    EXPECT_TRUE(torch::equal(out_a, out_s)) << c.name;
    const auto grad_a = torch::autograd::grad({out_a}, {aligned}, {grad_out})[0];
    const auto grad_s = torch::autograd::grad({out_s}, {shifted}, {grad_out})[0];
    EXPECT_TRUE(torch::allclose(grad_a, grad_s, 1e-5, 1e-5)) << c.name;
  }
}

TEST(GatAttentionCuda, ABiasIsTheSameAsAddingItAfterwards) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_bias_equals_adding_it_after(torch::kCUDA);
}

TEST(GatAttentionCuda, DrawsFromTheCudaGenerator) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto g = testing::random_edges(64, 64, 512, 5).graph().to(torch::kCUDA);
  auto in = random_inputs(g, 2, 8, torch::kFloat, 16);
  in = {in.feat.cuda(), in.el.cuda(), in.er.cuda()};
  const auto opts = GatAttentionOptions().dropout(0.5);
  torch::cuda::manual_seed(3);
  const auto a = gat_attention(g, in.feat, in.el, in.er, opts);
  const auto b = gat_attention(g, in.feat, in.el, in.er, opts);
  torch::cuda::manual_seed(3);
  EXPECT_TRUE(torch::equal(gat_attention(g, in.feat, in.el, in.er, opts), a));
  EXPECT_FALSE(torch::equal(a, b));
}

}  // namespace
}  // namespace graphmae2::graph
