// graph::head_logits against the chain of torch ops it replaces on the CPU, (feat * attn).sum(-1), on both kernel
// paths.

#include "graph/ops/head_logits.h"

#include "fixtures/graphs.h"
#include "graph/ops/op_testing.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace graphmae2::graph {
namespace {

using testing::expect_error;
using testing::for_each_simd_path;

struct Inputs {
  torch::Tensor feat, attn_l, attn_r;
};

Inputs random_inputs(int64_t n, int64_t heads, int64_t dim, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto opts = torch::TensorOptions().dtype(dtype);
  return {torch::randn({n, heads, dim}, gen, opts), torch::randn({1, heads, dim}, gen, opts),
          torch::randn({1, heads, dim}, gen, opts)};
}

// The reference: the chain of ATen ops, differentiated by autograd.
std::pair<torch::Tensor, torch::Tensor> chain(const std::vector<torch::Tensor>& in, int64_t num_dst) {
  return {(in[0] * in[1]).sum(-1), (in[0].narrow(0, 0, num_dst) * in[2]).sum(-1)};
}

// Values and all three gradients of head_logits(feat, ...) against the chain on the same inputs.
void expect_matches_chain(const Inputs& in, int64_t num_dst, double rtol, double atol, const std::string& what) {
  std::vector<torch::Tensor> ours{in.feat.clone().requires_grad_(), in.attn_l.clone().requires_grad_(),
                                  in.attn_r.clone().requires_grad_()};
  std::vector<torch::Tensor> ref{in.feat.clone().requires_grad_(), in.attn_l.clone().requires_grad_(),
                                 in.attn_r.clone().requires_grad_()};
  const auto [el, er] = head_logits(ours[0], ours[1], ours[2], num_dst);
  const auto [el_ref, er_ref] = chain(ref, num_dst);
  ASSERT_EQ(el.sizes(), el_ref.sizes()) << what;
  ASSERT_EQ(er.sizes(), er_ref.sizes()) << what;
  EXPECT_TRUE(torch::allclose(el, el_ref, rtol, atol)) << what;
  EXPECT_TRUE(torch::allclose(er, er_ref, rtol, atol)) << what;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const auto g_el = torch::randn(el.sizes(), gen, el.options()), g_er = torch::randn(er.sizes(), gen, er.options());
  ((el * g_el).sum() + (er * g_er).sum()).backward();
  ((el_ref * g_el).sum() + (er_ref * g_er).sum()).backward();
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(torch::allclose(ours[k].grad(), ref[k].grad(), 10 * rtol, atol)) << what << ", input " << k;
  }
}

TEST(HeadLogits, ValuesAndGradientsEqualTheChainOnBothPaths) {
  for_each_simd_path([](bool) {
    // Row counts around the backward's 256-row blocks, widths around the 8-lane dot, bipartite (num_dst < N).
    for (const auto& [n, heads, dim, num_dst] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
             {1, 1, 1, 1}, {7, 2, 3, 7}, {300, 4, 9, 300}, {600, 3, 16, 257}, {513, 8, 8, 0}}) {
      const std::string what = std::to_string(n) + " rows";
      expect_matches_chain(random_inputs(n, heads, dim, torch::kDouble, 3 + n), num_dst, 1e-12, 1e-12, what);
      expect_matches_chain(random_inputs(n, heads, dim, torch::kFloat, 4 + n), num_dst, 1e-5, 1e-5, what + " float");
    }
  });
}

TEST(HeadLogits, NonContiguousInputs) {
  for_each_simd_path([](bool) {
    const auto in = random_inputs(40, 3, 6, torch::kDouble, 9);
    // feat as a transposed view, the vectors as strided slices of wider ones.
    const auto feat = in.feat.permute({2, 1, 0}).contiguous().permute({2, 1, 0});
    const auto wide_l = torch::randn({1, 3, 12}, torch::kDouble), wide_r = torch::randn({1, 3, 12}, torch::kDouble);
    const Inputs strided{feat, wide_l.slice(2, 0, 12, 2), wide_r.slice(2, 1, 12, 2)};
    ASSERT_FALSE(strided.feat.is_contiguous());
    ASSERT_FALSE(strided.attn_l.is_contiguous());
    expect_matches_chain(strided, 25, 1e-12, 1e-12, "strided");
  });
}

TEST(HeadLogits, Float64GradientsMatchFiniteDifferences) {
  for_each_simd_path([](bool) {
    const auto in = random_inputs(5, 2, 3, torch::kDouble, 13);
    testing::expect_gradients_match_finite_differences(
        [](const std::vector<torch::Tensor>& t) {
          const auto [el, er] = head_logits(t[0], t[1], t[2], 3);
          return torch::cat({el.flatten(), er.flatten()});
        },
        {in.feat, in.attn_l, in.attn_r}, {true, true, true});
  });
}

TEST(HeadLogits, OnlyOneOutputUsedAndDoubleBackward) {
  const auto in = random_inputs(40, 2, 5, torch::kDouble, 21);
  auto feat = in.feat.clone().requires_grad_();
  // er unused: its gradient arrives undefined.
  const auto el = head_logits(feat, in.attn_l, in.attn_r, 30).first;
  const auto g = torch::autograd::grad({el.pow(2).sum()}, {feat}, {}, std::nullopt, /*create_graph=*/true)[0];
  auto feat_ref = in.feat.clone().requires_grad_();
  const auto g_ref = torch::autograd::grad({(feat_ref * in.attn_l).sum(-1).pow(2).sum()}, {feat_ref}, {}, std::nullopt,
                                           /*create_graph=*/true)[0];
  EXPECT_TRUE(torch::allclose(g, g_ref, 1e-12, 1e-12));
  const auto gg = torch::autograd::grad({g.sum()}, {feat})[0];
  const auto gg_ref = torch::autograd::grad({g_ref.sum()}, {feat_ref})[0];
  EXPECT_TRUE(torch::allclose(gg, gg_ref, 1e-12, 1e-12));
}

TEST(HeadLogits, AttentionGradientsDoNotDependOnTheThreadCount) {
  const auto in = random_inputs(5000, 4, 32, torch::kFloat, 5);
  std::vector<torch::Tensor> grads;
  const int threads = at::get_num_threads();
  for (const int t : {1, 2}) {
    at::set_num_threads(t);
    auto attn_l = in.attn_l.clone().requires_grad_();
    const auto [el, er] = head_logits(in.feat, attn_l, in.attn_r, 5000);
    (el * el).sum().backward();
    grads.push_back(attn_l.grad());
  }
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(grads[0], grads[1]));
}

TEST(HeadLogits, RejectsBadShapesNamingThem) {
  const auto in = random_inputs(6, 2, 3, torch::kFloat, 1);
  expect_error([&] { head_logits(in.feat.flatten(1), in.attn_l, in.attn_r, 6); },
               "head_logits: feat should be a 3-D [N, H, D] tensor, got 2-D with shape [6, 6]");
  expect_error(
      [&] {
        head_logits(in.feat, in.attn_l.view({2, 3}), in.attn_r, 6);
      },
      "head_logits: attention vectors should be [1, 2, 3], got [2, 3]");
  expect_error([&] { head_logits(in.feat, in.attn_l, in.attn_r, 7); }, "head_logits: num_dst is 7, outside [0, 6]");
  expect_error([&] { head_logits(in.feat, torch::Tensor(), in.attn_r, 6); }, "must be defined, got 1, 0, 1");
}

TEST(HeadLogitsCuda, MatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto in = random_inputs(50, 2, 8, torch::kFloat, 2);
  const auto [el, er] = head_logits(in.feat.cuda(), in.attn_l.cuda(), in.attn_r.cuda(), 20);
  const auto [el_cpu, er_cpu] = head_logits(in.feat, in.attn_l, in.attn_r, 20);
  EXPECT_TRUE(torch::allclose(el.cpu(), el_cpu, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(er.cpu(), er_cpu, 1e-5, 1e-5));
}

}  // namespace
}  // namespace graphmae2::graph
