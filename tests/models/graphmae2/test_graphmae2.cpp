// GraphMAE2: SCE against hand-computed values, masking and remasking invariants, branch switches.

#include "fixtures/graphmae2_batch.h"
#include "models/graphmae2/graphmae2.h"
#include "models/ssl/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace g2 = graphmae2::models::graphmae2;
using graphmae2::models::ssl::sce_loss;

namespace {

graphmae2::graph::CsrGraph ring(int64_t n) {
  auto a = torch::arange(n, torch::kInt64);
  auto b = (a + 1) % n;
  return graphmae2::graph::CsrGraph::from_edges(torch::cat({a, b, a}), torch::cat({b, a, a}), n);
}

TEST(Sce, HandComputedValues) {
  // Orthogonal rows: cos 0 -> (1 - 0)^a = 1 for any alpha.
  EXPECT_NEAR(sce_loss(torch::tensor({{1.0, 0.0}}), torch::tensor({{0.0, 3.0}}), 3).item<double>(), 1.0, 1e-7);
  // 45 degrees: (1 - 1/sqrt 2)^2 = 0.0857864...; scale of the rows does not matter.
  const double c = 1 - 1 / std::sqrt(2.0);
  EXPECT_NEAR(sce_loss(torch::tensor({{2.0, 2.0}}), torch::tensor({{5.0, 0.0}}), 2).item<double>(), c * c, 1e-7);
  // Mean over rows: identical row (0) and opposite row ((1 - -1)^1 = 2) -> 1.
  EXPECT_NEAR(
      sce_loss(torch::tensor({{1.0, 1.0}, {1.0, 0.0}}), torch::tensor({{1.0, 1.0}, {-1.0, 0.0}}), 1).item<double>(),
      1.0, 1e-7);
  EXPECT_THROW(sce_loss(torch::ones({2, 3}), torch::ones({3, 3}), 2), c10::Error);
}

TEST(Masking, RandomSubsetHasTheReferenceSizeAndNoRepeats) {
  torch::manual_seed(0);
  for (double rate : {0.0, 0.3, 0.5, 0.75}) {
    auto s = g2::random_subset(2708, rate, torch::kCPU);
    EXPECT_EQ(s.size(0), static_cast<int64_t>(rate * 2708));
    std::set<int64_t> unique(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + s.numel());
    EXPECT_EQ(static_cast<int64_t>(unique.size()), s.size(0));
    if (s.numel()) {
      EXPECT_GE(s.min().item<int64_t>(), 0);
      EXPECT_LT(s.max().item<int64_t>(), 2708);
    }
  }
  torch::manual_seed(5);
  auto a = g2::random_subset(100, 0.5, torch::kCPU);
  torch::manual_seed(5);
  EXPECT_TRUE(torch::equal(a, g2::random_subset(100, 0.5, torch::kCPU)));
}

TEST(Masking, ReplaceRowsPutsTheTokenOnExactlyTheMaskedRows) {
  auto x = torch::randn({6, 4}).requires_grad_(true);
  auto token = torch::randn({1, 4}).requires_grad_(true);
  auto nodes = torch::tensor({1, 4}, torch::kInt64);
  auto y = g2::replace_rows(x, nodes, token);
  for (int64_t i = 0; i < 6; ++i) {
    const bool masked = i == 1 || i == 4;
    EXPECT_TRUE(torch::equal(y[i], masked ? token[0] : x[i])) << "row " << i;
  }
  y.sum().backward();
  // The token's gradient sums the masked rows' upstream; masked input rows get none.
  EXPECT_TRUE(torch::allclose(token.grad(), torch::full({1, 4}, 2.0)));
  EXPECT_EQ(x.grad()[1].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(x.grad()[0].sum().item<float>(), 4.0f);
  // Without a token (fixed remask) the rows become zero.
  auto z = g2::replace_rows(x.detach(), nodes, torch::Tensor());
  EXPECT_EQ(z[4].abs().sum().item<float>(), 0.0f);
}

g2::GraphMAE2 small_model(bool zero_init = false) {
  return g2::GraphMAE2(g2::GraphMAE2Options(6).num_hidden(8).heads(2).zero_init_tokens(zero_init));
}

TEST(GraphMAE2, LossTermsAndBranchSwitches) {
  torch::manual_seed(3);
  auto model = small_model();
  auto g = ring(10);
  auto x = torch::rand({10, 6});
  auto targets = torch::arange(10, torch::kInt64);
  g2::MaskPlan plan{g2::random_subset(10, 0.5, torch::kCPU), {}};
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.lam = 0.5;
  auto full = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  EXPECT_GT(full.reconstruction.item<double>(), 0);
  EXPECT_GT(full.latent.item<double>(), 0);
  EXPECT_NEAR(full.total.item<double>(), full.reconstruction.item<double>() + 0.5 * full.latent.item<double>(), 1e-6);

  model->eval();  // no dropout, so the branches can be compared
  auto all = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  cfg.use_latent = false;
  auto rec_only = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  EXPECT_EQ(rec_only.latent.item<double>(), 0.0);
  EXPECT_NEAR(rec_only.reconstruction.item<double>(), all.reconstruction.item<double>(), 1e-6);
  cfg.use_latent = true;
  cfg.use_reconstruction = false;
  auto lat_only = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  EXPECT_EQ(lat_only.reconstruction.item<double>(), 0.0);
  EXPECT_NEAR(lat_only.latent.item<double>(), all.latent.item<double>(), 1e-6);
  EXPECT_TRUE(lat_only.per_view.empty());
  cfg.use_latent = false;
  EXPECT_THROW(model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg), c10::Error);
}

TEST(GraphMAE2, UnmaskedNodesAreTheComplementInOrder) {
  for (int64_t n : {1, 7, 50}) {
    for (double rate : {0.0, 0.3, 1.0}) {
      const auto mask = g2::random_subset(n, rate, torch::kCPU);
      std::set<int64_t> masked;
      for (int64_t i = 0; i < mask.size(0); ++i) masked.insert(mask[i].item<int64_t>());
      std::vector<int64_t> expected;
      for (int64_t v = 0; v < n; ++v) {
        if (!masked.count(v)) expected.push_back(v);
      }
      const auto got = g2::unmasked_nodes(n, mask);
      ASSERT_EQ(got.size(0), static_cast<int64_t>(expected.size())) << "n " << n << " rate " << rate;
      for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(got[i].item<int64_t>(), expected[i]);
    }
  }
}

// A float64 model in eval mode (no dropout) on a 12-node ring with random features and half the nodes masked.
struct Float64RingCase {
  g2::GraphMAE2 model;
  graphmae2::graph::CsrGraph graph;
  torch::Tensor x;
  g2::MaskPlan plan;
};

Float64RingCase float64_ring_case(uint64_t seed) {
  torch::manual_seed(seed);
  auto model = small_model();
  model->to(torch::kDouble);
  model->eval();
  auto x = torch::rand({12, 6}, torch::kDouble);
  g2::MaskPlan plan{g2::random_subset(12, 0.5, torch::kCPU), {}};
  return {model, ring(12), x, plan};
}

TEST(GraphMAE2, FixedRemaskEqualsTheReferencesProjectThenZero) {
  // The reference projects every row through encoder_to_decoder and zeroes the masked ones; the model projects
  // only the unmasked rows. Same loss and gradients (float64, no dropout).
  auto [model, g, x, plan] = float64_ring_case(9);
  auto targets = torch::arange(12, torch::kInt64);
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.use_latent = false;
  auto out = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  out.total.backward();
  const auto grad_e2d = model->encoder_to_decoder->weight.grad().clone();
  const auto grad_fc0 = model->encoder->first_layer()->fc->weight.grad().clone();
  model->zero_grad();
  auto enc = model->encoder->forward(g, g2::replace_rows(x, plan.mask_nodes, model->enc_mask_token));
  auto rep = g2::replace_rows(model->encoder_to_decoder->forward(enc), plan.mask_nodes, torch::Tensor());
  auto rec = model->decoder->forward(g, rep).index_select(0, plan.mask_nodes);
  auto expected = graphmae2::models::ssl::sce_loss(x.index_select(0, plan.mask_nodes), rec, cfg.alpha_l);
  expected.backward();
  EXPECT_NEAR(out.reconstruction.item<double>(), expected.item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(grad_e2d, model->encoder_to_decoder->weight.grad(), 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(grad_fc0, model->encoder->first_layer()->fc->weight.grad(), 1e-10, 1e-12));
}

TEST(GraphMAE2, LeadingTargetsAsAViewEqualTheirIndexSelection) {
  // targets_lead selects the batch's first rows by a view instead of index_select: same losses and gradients, for
  // every row (the full graph) and for a prefix (neighbour seeds); a flag that does not match its targets is refused.
  auto [model, g, x, plan] = float64_ring_case(10);
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.variance_reg = 0.5;
  cfg.covariance_reg = 0.1;
  for (const int64_t count : {12, 5}) {
    auto batch = graphmae2::testing::batch_of(g, x, torch::arange(count, torch::kInt64));
    std::vector<torch::Tensor> losses, grads;
    for (const bool lead : {false, true}) {
      batch.targets_lead = lead;
      model->zero_grad();
      const auto out = model->forward(batch, plan, cfg);
      out.total.backward();
      losses.push_back(torch::stack({out.latent, out.regulariser, out.total}));
      grads.push_back(model->predictor->ptr(1)->as<torch::nn::Linear>()->weight.grad().clone());
      grads.push_back(model->encoder->first_layer()->fc->weight.grad().clone());
    }
    EXPECT_TRUE(torch::allclose(losses[0], losses[1], 1e-12, 1e-14)) << count << " targets";
    EXPECT_TRUE(torch::allclose(grads[0], grads[2], 1e-12, 1e-14)) << count << " targets";
    EXPECT_TRUE(torch::allclose(grads[1], grads[3], 1e-12, 1e-14)) << count << " targets";
  }
  auto wrong = graphmae2::testing::batch_of(g, x, torch::arange(1, 6, torch::kInt64));
  wrong.targets_lead = true;
  EXPECT_THROW(model->forward(wrong, plan, cfg), c10::Error);
}

TEST(GraphMAE2, InfoNceLatentLossUsesTheSharedContrastiveLoss) {
  torch::manual_seed(8);
  auto model = small_model();
  model->eval();
  auto g = ring(10);
  auto x = torch::rand({10, 6});
  auto targets = torch::arange(10, torch::kInt64);
  g2::MaskPlan plan{g2::random_subset(10, 0.5, torch::kCPU), {}};
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.use_reconstruction = false;
  cfg.latent_loss = g2::LatentLoss::infonce;
  cfg.infonce_tau = 0.5;
  auto out = model->forward(graphmae2::testing::batch_of(g, x, targets), plan, cfg);
  // Recompute by hand: prediction from the student, target from the EMA branch, then ctr(pred, target).
  auto enc = model->encoder->forward(g, g2::replace_rows(x, plan.mask_nodes, model->enc_mask_token));
  auto pred = model->predictor->forward(model->projector->forward(enc));
  auto target = model->latent_target(g, x, targets);
  namespace F = torch::nn::functional;
  auto q = F::normalize(pred, F::NormalizeFuncOptions().dim(1));
  auto k = F::normalize(target, F::NormalizeFuncOptions().dim(1));
  auto expected = F::cross_entropy(q.matmul(k.t()) / 0.5, targets) * (2 * 0.5);
  EXPECT_NEAR(out.latent.item<double>(), expected.item<double>(), 1e-5);
}

TEST(GraphMAE2, RandomRemaskSumsOneLossPerView) {
  torch::manual_seed(4);
  auto model = small_model();
  model->eval();
  auto g = ring(12);
  auto x = torch::rand({12, 6});
  g2::MaskPlan plan{g2::random_subset(12, 0.5, torch::kCPU),
                    {g2::random_subset(12, 0.5, torch::kCPU), g2::random_subset(12, 0.5, torch::kCPU),
                     g2::random_subset(12, 0.5, torch::kCPU)}};
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.remask_method = g2::RemaskMethod::random;
  auto out = model->forward(graphmae2::testing::batch_of(g, x, torch::arange(12, torch::kInt64)), plan, cfg);
  ASSERT_EQ(out.per_view.size(), 3u);
  double sum = 0;
  for (auto& v : out.per_view) sum += v.item<double>();
  EXPECT_NEAR(out.reconstruction.item<double>(), sum, 1e-6);
  // The decoder mask token trains only in random remask; fixed remask zeroes rows instead.
  out.total.backward();
  EXPECT_GT(model->dec_mask_token.grad().abs().sum().item<double>(), 0);
  model->zero_grad();
  cfg.remask_method = g2::RemaskMethod::fixed;
  model->forward(graphmae2::testing::batch_of(g, x, torch::arange(12, torch::kInt64)), plan, cfg).total.backward();
  EXPECT_FALSE(model->dec_mask_token.grad().defined() && model->dec_mask_token.grad().abs().sum().item<double>() > 0);
}

TEST(GraphMAE2, ZeroInitTokensFollowTheReference) {
  auto zero = small_model(true);
  EXPECT_EQ(zero->enc_mask_token.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(zero->dec_mask_token.abs().sum().item<double>(), 0.0);
  auto xavier = small_model(false);
  EXPECT_GT(xavier->enc_mask_token.abs().sum().item<double>(), 0.0);
}

TEST(GraphMAE2, UnmaskedInputDoesNotChangeTheTargetOfMaskedNodes) {
  // The reconstruction target of a masked node is its original features: changing an unmasked node's
  // features never changes x_init, while changing a masked node's features changes the loss only through it.
  torch::manual_seed(6);
  auto model = small_model();
  model->eval();
  auto g = ring(8);
  auto x = torch::rand({8, 6});
  g2::MaskPlan plan{torch::tensor({2, 5}, torch::kInt64), {}};
  auto cfg = graphmae2::testing::fixed_remask();
  cfg.use_latent = false;
  auto base = model->forward(graphmae2::testing::batch_of(g, x, torch::arange(8, torch::kInt64)), plan, cfg)
                  .reconstruction.item<double>();
  // Masked node 2's own features are hidden from the encoder: scaling them keeps SCE's cosine target
  // direction and so the loss (the encoder only sees the token for that row).
  auto x2 = x.clone();
  x2[2].mul_(3.0);
  EXPECT_NEAR(model->forward(graphmae2::testing::batch_of(g, x2, torch::arange(8, torch::kInt64)), plan, cfg)
                  .reconstruction.item<double>(),
              base, 1e-6);
  auto x3 = x.clone();
  x3[3].add_(1.0);
  EXPECT_GT(std::abs(model->forward(graphmae2::testing::batch_of(g, x3, torch::arange(8, torch::kInt64)), plan, cfg)
                         .reconstruction.item<double>() -
                     base),
            1e-7);
}

}  // namespace
