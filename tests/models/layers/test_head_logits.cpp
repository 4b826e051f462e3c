// layers::head_logits against the chain of torch ops it replaces on the CPU: (feat * attn).sum(-1).

#include "models/layers/head_logits.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace graphmae2::models::layers {
namespace {

struct Inputs {
  torch::Tensor feat, attn_l, attn_r;
};

Inputs random_inputs(int64_t n, int64_t heads, int64_t dim, torch::Dtype dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto opts = torch::TensorOptions().dtype(dtype);
  return {torch::randn({n, heads, dim}, gen, opts), torch::randn({1, heads, dim}, gen, opts),
          torch::randn({1, heads, dim}, gen, opts)};
}

TEST(HeadLogits, ValuesAndGradientsEqualTheChainFloat64) {
  // Row counts around the backward's 256-row blocks, widths around the 8-lane dot, bipartite (num_dst < N).
  for (const auto& [n, heads, dim, num_dst] : std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>>{
           {1, 1, 1, 1}, {7, 2, 3, 7}, {300, 4, 9, 300}, {600, 3, 16, 257}, {513, 8, 8, 0}}) {
    const auto in = random_inputs(n, heads, dim, torch::kDouble, 3 + n);
    std::vector<torch::Tensor> ours{in.feat.clone().requires_grad_(), in.attn_l.clone().requires_grad_(),
                                    in.attn_r.clone().requires_grad_()};
    std::vector<torch::Tensor> ref{in.feat.clone().requires_grad_(), in.attn_l.clone().requires_grad_(),
                                   in.attn_r.clone().requires_grad_()};
    const auto [el, er] = head_logits(ours[0], ours[1], ours[2], num_dst);
    const auto el_ref = (ref[0] * ref[1]).sum(-1), er_ref = (ref[0].narrow(0, 0, num_dst) * ref[2]).sum(-1);
    ASSERT_EQ(el.sizes(), el_ref.sizes());
    ASSERT_EQ(er.sizes(), er_ref.sizes());
    EXPECT_TRUE(torch::allclose(el, el_ref, 1e-12, 1e-12)) << n << " rows";
    EXPECT_TRUE(torch::allclose(er, er_ref, 1e-12, 1e-12)) << n << " rows";
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    const auto g_el = torch::randn(el.sizes(), gen, torch::kDouble), g_er = torch::randn(er.sizes(), gen, torch::kDouble);
    ((el * g_el).sum() + (er * g_er).sum()).backward();
    ((el_ref * g_el).sum() + (er_ref * g_er).sum()).backward();
    for (int k = 0; k < 3; ++k) {
      EXPECT_TRUE(torch::allclose(ours[k].grad(), ref[k].grad(), 1e-11, 1e-12)) << n << " rows, input " << k;
    }
  }
}

TEST(HeadLogits, OnlyOneOutputUsedAndDoubleBackward) {
  const auto in = random_inputs(40, 2, 5, torch::kDouble, 21);
  auto feat = in.feat.clone().requires_grad_();
  // er unused: its gradient arrives undefined.
  const auto el = head_logits(feat, in.attn_l, in.attn_r, 30).first;
  const auto g = torch::autograd::grad({el.pow(2).sum()}, {feat}, {}, std::nullopt, /*create_graph=*/true)[0];
  auto feat_ref = in.feat.clone().requires_grad_();
  const auto g_ref = torch::autograd::grad({(feat_ref * in.attn_l).sum(-1).pow(2).sum()}, {feat_ref}, {},
                                           std::nullopt, /*create_graph=*/true)[0];
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
  EXPECT_THROW(head_logits(in.feat.flatten(1), in.attn_l, in.attn_r, 6), c10::Error);
  EXPECT_THROW(head_logits(in.feat, in.attn_l.view({2, 3}), in.attn_r, 6), c10::Error);
  EXPECT_THROW(head_logits(in.feat, in.attn_l, in.attn_r, 7), c10::Error);
}

}  // namespace
}  // namespace graphmae2::models::layers
