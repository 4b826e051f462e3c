// GATConv against a plain-loop reference in float64: values and gradients.

#include "models/layers/gat.h"
#include "models/layers/gat_conv.h"
#include "models/layers/sparse_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

using graphmae2::graph::CsrGraph;
using graphmae2::models::layers::GAT;
using graphmae2::models::layers::GATConv;
using graphmae2::models::layers::GATConvInput;
using graphmae2::models::layers::GATConvOptions;
using graphmae2::models::layers::GATOptions;

namespace {

// Rows are destinations; each row lists its sources. Node 3 has a single in-edge, node 4 several.
CsrGraph small_graph() {
  auto src = torch::tensor({0, 1, 2, 0, 3, 4, 1, 2, 3, 4, 4, 0}, torch::kInt64);
  auto dst = torch::tensor({1, 0, 0, 2, 4, 3, 4, 4, 0, 0, 4, 0}, torch::kInt64);
  return CsrGraph::from_edges(dst, src, 5);
}

// Plain-loop GAT layer built from scalar tensor ops, so autograd through it is an independent reference.
torch::Tensor reference_gat(const CsrGraph& g, const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& al,
                            const torch::Tensor& ar, const torch::Tensor& bias, int64_t heads, int64_t out,
                            double slope, bool concat, const torch::Tensor& res_w) {
  const int64_t n_dst = g.num_rows();
  auto feat = torch::matmul(x, w.t()).view({x.size(0), heads, out});
  auto ip = g.indptr.accessor<int64_t, 1>();
  auto ix = g.indices.accessor<int64_t, 1>();
  std::vector<torch::Tensor> rows;
  for (int64_t v = 0; v < n_dst; ++v) {
    std::vector<torch::Tensor> per_head;
    for (int64_t h = 0; h < heads; ++h) {
      auto er = (feat[v][h] * ar[0][h]).sum();
      std::vector<torch::Tensor> scores;
      for (int64_t e = ip[v]; e < ip[v + 1]; ++e) {
        auto s = (feat[ix[e]][h] * al[0][h]).sum() + er;
        scores.push_back(torch::where(s > 0, s, s * slope));
      }
      auto acc = torch::zeros({out}, x.options());
      if (!scores.empty()) {
        auto m = torch::stack(scores).max().detach();
        auto denom = torch::zeros({}, x.options());
        for (auto& s : scores) denom = denom + torch::exp(s - m);
        for (int64_t e = ip[v], k = 0; e < ip[v + 1]; ++e, ++k) {
          acc = acc + torch::exp(scores[k] - m) / denom * feat[ix[e]][h];
        }
      }
      acc = acc + bias.view({heads, out})[h];
      if (res_w.defined()) acc = acc + torch::matmul(res_w, x[v]).view({heads, out})[h];
      per_head.push_back(acc);
    }
    auto stacked = torch::stack(per_head);
    rows.push_back(concat ? stacked.flatten() : stacked.mean(0));
  }
  return torch::stack(rows);
}

struct Case {
  bool concat;
  bool residual;
  int64_t in;
};

class GATConvVsLoop : public ::testing::TestWithParam<Case> {};

TEST_P(GATConvVsLoop, ForwardAndGradientsMatchPlainLoop) {
  const auto c = GetParam();
  torch::manual_seed(3);
  const int64_t heads = 2, out = 3;
  GATConv conv(GATConvOptions(c.in, out, heads).concat(c.concat).residual(c.residual).negative_slope(0.2));
  conv->to(torch::kFloat64);
  conv->eval();
  {
    torch::NoGradGuard g;
    conv->bias.uniform_(-0.5, 0.5);  // a non-zero bias so its place in the order is tested
  }
  auto graph = small_graph();
  auto x = torch::randn({5, c.in}, torch::kFloat64).requires_grad_(true);
  auto y = conv->forward(graph, x);
  auto res_w = conv->res_fc ? conv->res_fc->weight : torch::Tensor();
  auto ref = reference_gat(graph, x, conv->fc->weight, conv->attn_l, conv->attn_r, conv->bias, heads, out, 0.2,
                           c.concat, res_w);
  ASSERT_EQ(y.sizes(), ref.sizes());
  EXPECT_TRUE(torch::allclose(y, ref, 1e-10, 1e-12)) << (y - ref).abs().max();

  auto upstream = torch::randn_like(y);
  std::vector<torch::Tensor> inputs{x, conv->fc->weight, conv->attn_l, conv->attn_r, conv->bias};
  if (res_w.defined()) inputs.push_back(res_w);
  auto g1 = torch::autograd::grad({y}, inputs, {upstream});
  auto g2 = torch::autograd::grad({ref}, inputs, {upstream});
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(torch::allclose(g1[i], g2[i], 1e-9, 1e-11))
        << "gradient " << i << " differs by " << (g1[i] - g2[i]).abs().max();
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GATConvVsLoop,
                         ::testing::Values(Case{true, false, 4}, Case{false, false, 4}, Case{true, true, 4},
                                           Case{true, true, 6}));

TEST(GATConv, WidthPreservingResidualFollowsTheReferenceQuirk) {
  // in = heads * out: the reference builds no residual at all; identity_residual adds x instead.
  GATConv plain(GATConvOptions(6, 3, 2).residual(true));
  EXPECT_FALSE(plain->res_fc);
  GATConv with_identity(GATConvOptions(6, 3, 2).residual(true).identity_residual(true));
  with_identity->eval();
  plain->eval();
  torch::NoGradGuard ng;
  for (auto& item : with_identity->named_parameters()) item.value().copy_(plain->named_parameters()[item.key()]);
  auto g = small_graph();
  auto x = torch::randn({5, 6});
  EXPECT_TRUE(torch::allclose(with_identity->forward(g, x) - plain->forward(g, x), x, 1e-5, 1e-6));
}

TEST(GATConv, BipartiteBlockUsesFirstRowsAsDestinations) {
  torch::manual_seed(1);
  GATConv conv(GATConvOptions(4, 3, 2));
  conv->eval();
  auto full = small_graph();
  // Block: destinations 0..2 of the full graph, all 5 nodes as sources.
  auto block = CsrGraph(full.indptr.narrow(0, 0, 4).clone(),
                        full.indices.narrow(0, 0, full.indptr[3].item<int64_t>()).clone(), 5);
  auto x = torch::randn({5, 4});
  auto y_full = conv->forward(full, x);
  auto y_block = conv->forward(block, x);
  ASSERT_EQ(y_block.size(0), 3);
  EXPECT_TRUE(torch::allclose(y_block, y_full.narrow(0, 0, 3), 1e-5, 1e-6));
}

TEST(GATConv, ForwardRowsEqualsTheSelectedRowsOfTheFullOutput) {
  // One head takes the aggregate-then-project path, two heads the plain one; values and gradients in float64
  // against the plain-loop reference's rows, for distinct rows and for a repeated one.
  for (const auto& row_ids : {std::vector<int64_t>{4, 0, 3}, std::vector<int64_t>{2, 2, 0}})
    for (int64_t heads : {1, 2}) {
      torch::manual_seed(7);
      const int64_t out = 6;
      GATConv conv(GATConvOptions(4, out, heads).activation(graphmae2::models::layers::Activation::prelu));
      conv->to(torch::kFloat64);
      conv->eval();
      {
        torch::NoGradGuard g;
        conv->bias.uniform_(-0.5, 0.5);
      }
      auto graph = small_graph();
      auto rows = torch::tensor(row_ids, torch::kInt64);
      auto x = torch::randn({5, 4}, torch::kFloat64).requires_grad_(true);
      auto y = conv->forward(graph, GATConvInput(x).with_rows(rows));
      auto prelu_slope = conv->named_parameters()["activation.weight"];
      auto ref = reference_gat(graph, x, conv->fc->weight, conv->attn_l, conv->attn_r, conv->bias, heads, out, 0.2,
                               true, torch::Tensor())
                     .index_select(0, rows);
      ref = torch::where(ref > 0, ref, ref * prelu_slope);
      ASSERT_EQ(y.sizes(), ref.sizes());
      EXPECT_TRUE(torch::allclose(y, ref, 1e-10, 1e-12)) << "heads " << heads << ": " << (y - ref).abs().max();
      auto upstream = torch::randn_like(y);
      std::vector<torch::Tensor> inputs{x, conv->fc->weight, conv->attn_l, conv->attn_r, conv->bias};
      auto g1 = torch::autograd::grad({y}, inputs, {upstream});
      auto g2 = torch::autograd::grad({ref}, inputs, {upstream});
      for (size_t i = 0; i < inputs.size(); ++i) {
        EXPECT_TRUE(torch::allclose(g1[i], g2[i], 1e-9, 1e-11)) << "heads " << heads << ", gradient " << i;
      }
    }
}

TEST(GATConv, FoldedAttentionIsWTransposedTimesTheVectorsWithWsGradientInWsLayout) {
  // Row h: sum_d attn_l[h, d] W[h * D + d, :]; row H + h the same with attn_r. Against that loop, in both of W's
  // layouts (row-major, and column-major after store_transposed), with W's gradient in W's own strides.
  for (const bool column_major : {false, true}) {
    torch::manual_seed(23);
    const int64_t heads = 3, out = 4, in = 7;
    GATConv conv(GATConvOptions(in, out, heads));
    conv->to(torch::kFloat64);
    if (column_major) graphmae2::models::layers::store_transposed(conv->fc->weight);
    const auto w = conv->fc->weight.detach();
    auto expected = torch::zeros({2 * heads, in}, torch::kFloat64);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t d = 0; d < out; ++d) {
        expected[h] += conv->attn_l.detach()[0][h][d] * w[h * out + d];
        expected[heads + h] += conv->attn_r.detach()[0][h][d] * w[h * out + d];
      }
    }
    const auto folded = conv->folded_attention();
    ASSERT_EQ(folded.sizes(), expected.sizes());
    EXPECT_TRUE(torch::allclose(folded, expected, 1e-12, 1e-12)) << "column-major " << column_major;
    const auto upstream = torch::randn({2 * heads, in}, torch::kFloat64);
    (folded * upstream).sum().backward();
    // d/dW[h * D + d, :] = attn_l[h, d] upstream[h] + attn_r[h, d] upstream[H + h].
    auto expected_grad = torch::zeros_like(w);
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t d = 0; d < out; ++d) {
        expected_grad[h * out + d] =
            conv->attn_l.detach()[0][h][d] * upstream[h] + conv->attn_r.detach()[0][h][d] * upstream[heads + h];
      }
    }
    EXPECT_TRUE(torch::allclose(conv->fc->weight.grad(), expected_grad, 1e-12, 1e-12));
    EXPECT_EQ(conv->fc->weight.grad().strides(), conv->fc->weight.strides()) << "column-major " << column_major;
  }
}

TEST(GATConv, FusedAttentionAgreesWithTheChainOfOps) {
  // The default fused op against fused_attention(false): whole graphs, a bipartite block and selected rows, one
  // head and several, with a residual; training mode (dropout off: the two draw different masks).
  auto full = small_graph();
  auto block = CsrGraph(full.indptr.narrow(0, 0, 4).clone(),
                        full.indices.narrow(0, 0, full.indptr[3].item<int64_t>()).clone(), 5);
  for (int64_t heads : {1, 3}) {
    torch::manual_seed(11);
    GATConv fused(GATConvOptions(4, 5, heads).residual(true));
    GATConv chain(GATConvOptions(4, 5, heads).residual(true).fused_attention(false));
    fused->to(torch::kFloat64);
    chain->to(torch::kFloat64);
    {
      torch::NoGradGuard g;
      auto src = fused->parameters();
      auto dst = chain->parameters();
      for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
    }
    auto x = torch::randn({5, 4}, torch::kFloat64);
    const auto rows = torch::tensor({4, 1}, torch::kInt64);
    using Run = std::function<torch::Tensor(GATConv&, const torch::Tensor&)>;
    const std::vector<std::pair<const char*, Run>> runs = {
        {"full", [&](GATConv& c, const torch::Tensor& in) { return c->forward(full, in); }},
        {"block", [&](GATConv& c, const torch::Tensor& in) { return c->forward(block, in); }},
        {"rows",
         [&](GATConv& c, const torch::Tensor& in) { return c->forward(full, GATConvInput(in).with_rows(rows)); }}};
    for (const auto& [name, run] : runs) {
      auto x1 = x.clone().requires_grad_(true), x2 = x.clone().requires_grad_(true);
      auto y1 = run(fused, x1), y2 = run(chain, x2);
      EXPECT_TRUE(torch::allclose(y1, y2, 1e-11, 1e-12)) << name << ", heads " << heads;
      auto upstream = torch::randn_like(y1);
      std::vector<torch::Tensor> in1{x1, fused->fc->weight, fused->attn_l, fused->attn_r};
      std::vector<torch::Tensor> in2{x2, chain->fc->weight, chain->attn_l, chain->attn_r};
      auto g1 = torch::autograd::grad({y1}, in1, {upstream});
      auto g2 = torch::autograd::grad({y2}, in2, {upstream});
      for (size_t i = 0; i < g1.size(); ++i) {
        EXPECT_TRUE(torch::allclose(g1[i], g2[i], 1e-10, 1e-12)) << name << ", heads " << heads << ", gradient " << i;
      }
    }
  }
}

TEST(GATConv, FusedAttentionDropoutKeepsTheExpectation) {
  // Attention dropout with the fused op: each output is unbiased, so the mean over many draws approaches the
  // evaluation-mode output.
  torch::manual_seed(3);
  GATConv conv(GATConvOptions(4, 3, 2).attn_drop(0.5));
  auto graph = small_graph();
  auto x = torch::randn({5, 4});
  torch::NoGradGuard no_grad;
  conv->eval();
  const auto expected = conv->forward(graph, x);
  conv->train();
  auto mean = torch::zeros_like(expected);
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) mean += conv->forward(graph, x);
  mean /= draws;
  EXPECT_TRUE(torch::allclose(mean, expected, 0.05, 0.05)) << (mean - expected).abs().max();
  EXPECT_FALSE(torch::allclose(conv->forward(graph, x), expected, 1e-3, 1e-3));
}

TEST(GATConv, AttentionSumsToOnePerDestination) {
  GATConv conv(GATConvOptions(4, 3, 2));
  conv->eval();
  auto g = small_graph();
  auto [y, a] = graphmae2::models::layers::attention_coefficients(*conv, g, torch::randn({5, 4}));
  auto sums = torch::zeros({5, 2}).index_add_(0, g.row_ids(), a);
  EXPECT_TRUE(torch::allclose(sums, torch::ones({5, 2}), 1e-5, 1e-6));
}

TEST(GATConv, OneForwardTakesAProjectionMadeElsewhereAndRefusesMixedInputs) {
  torch::manual_seed(9);
  GATConv conv(GATConvOptions(4, 3, 2));
  conv->eval();
  const auto g = small_graph();
  const auto x = torch::randn({5, 4});
  const auto projected = conv->fc(x);
  const auto logits = torch::mm(x, conv->folded_attention().t());
  const auto expected = conv->forward(g, x);
  EXPECT_TRUE(torch::allclose(conv->forward(g, GATConvInput::projected(projected)), expected, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(conv->forward(g, GATConvInput::projected(projected, logits)), expected, 1e-5, 1e-6));
  EXPECT_THROW(conv->forward(g, GATConvInput::projected(projected).with_rows(torch::tensor({1}, torch::kLong))),
               c10::Error);
  EXPECT_THROW(conv->forward(g, GATConvInput(torch::Tensor())), c10::Error);
  GATConv residual(GATConvOptions(4, 3, 2).residual(true));
  EXPECT_FALSE(residual->accepts_projected_input());
  EXPECT_THROW(residual->forward(g, GATConvInput::projected(projected)), c10::Error);
}

TEST(GATConv, RejectsWrongInputWidth) {
  GATConv conv(GATConvOptions(4, 3, 2));
  try {
    conv->forward(small_graph(), torch::randn({5, 7}));
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[5, 7]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(conv->forward(small_graph(), torch::randn({4, 4})), c10::Error);
}

TEST(GAT, ReferenceTopologyForEncoderAndDecoder) {
  // Cora: in 1433 -> 8 heads x 128 -> 8 heads x 128, PReLU after every layer when encoding.
  const auto layernorm = graphmae2::models::layers::Norm::layernorm;
  GAT enc(GATOptions(20, 4, 4, 2).heads(8).out_heads(8).encoding(true).residual(true).norm(layernorm));
  ASSERT_EQ(enc->layers->size(), 2u);
  auto last = enc->layers[1]->as<GATConv>();
  EXPECT_FALSE(last->activation.is_empty());
  EXPECT_FALSE(last->norm.is_empty());
  EXPECT_EQ(enc->output_dim(), 32);
  GAT dec(GATOptions(32, 4, 20, 1).heads(8).out_heads(1).encoding(false).residual(true).norm(layernorm));
  auto only = dec->layers[0]->as<GATConv>();
  EXPECT_TRUE(only->activation.is_empty());
  EXPECT_TRUE(only->norm.is_empty());
  EXPECT_FALSE(only->res_fc);
  EXPECT_EQ(dec->forward(small_graph(), torch::randn({5, 32})).sizes(), (std::vector<int64_t>{5, 20}));
}

}  // namespace
