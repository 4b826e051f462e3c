// Contrastive (InfoNCE) loss against hand-computed values and a plain-loop reference.

#include "models/ssl/contrastive.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace graphmae2::models::ssl;

namespace {

/// Plain-loop ctr(q, k): mean over i of -log softmax_j(<q_i, k_j> / tau)[i], times 2 tau, in double.
double reference_ctr(const torch::Tensor& q, const torch::Tensor& k, double tau) {
  const auto qd = q.to(torch::kFloat64), kd = k.to(torch::kFloat64);
  const int64_t n = q.size(0), d = q.size(1);
  std::vector<std::vector<double>> qn(n, std::vector<double>(d)), kn(n, std::vector<double>(d));
  for (int64_t i = 0; i < n; ++i) {
    double sq = 0, sk = 0;
    for (int64_t c = 0; c < d; ++c) {
      sq += std::pow(qd[i][c].item<double>(), 2);
      sk += std::pow(kd[i][c].item<double>(), 2);
    }
    for (int64_t c = 0; c < d; ++c) {
      qn[i][c] = qd[i][c].item<double>() / std::sqrt(sq);
      kn[i][c] = kd[i][c].item<double>() / std::sqrt(sk);
    }
  }
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> logits(n);
    double mx = -1e300;
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < d; ++c) dot += qn[i][c] * kn[j][c];
      logits[j] = dot / tau;
      mx = std::max(mx, logits[j]);
    }
    double z = 0;
    for (double l : logits) z += std::exp(l - mx);
    total += -(logits[i] - mx - std::log(z));
  }
  return total / static_cast<double>(n) * 2.0 * tau;
}

}  // namespace

TEST(Contrastive, HandComputedTwoByTwo) {
  // q rows normalise to (0.6, 0.8) and (1, 0); k rows to (0, 1) and (1, 1)/sqrt(2). tau = 0.5.
  const auto q = torch::tensor({{3.0, 4.0}, {1.0, 0.0}});
  const auto k = torch::tensor({{0.0, 2.0}, {1.0, 1.0}});
  const double r = 1.0 / std::sqrt(2.0);
  // Row 0: logits (0.8, 1.4 r) / 0.5, label 0. Row 1: logits (0, r) / 0.5, label 1.
  const double l00 = 0.8 / 0.5, l01 = 1.4 * r / 0.5, l10 = 0.0, l11 = r / 0.5;
  const double ce0 = -l00 + std::log(std::exp(l00) + std::exp(l01));
  const double ce1 = -l11 + std::log(std::exp(l10) + std::exp(l11));
  const double expect = (ce0 + ce1) / 2.0 * (2.0 * 0.5);
  EXPECT_NEAR(contrastive_loss(q, k, 0.5).item<double>(), expect, 1e-6);
}

TEST(Contrastive, IdentityPairsAtTauOne) {
  // q = k = I_3: each row has logit 1 on its label and 0 elsewhere: CE = log(e + 2) - 1, times 2.
  const auto eye = torch::eye(3);
  EXPECT_NEAR(contrastive_loss(eye, eye, 1.0).item<double>(), 2.0 * (std::log(std::exp(1.0) + 2.0) - 1.0), 1e-6);
}

TEST(Contrastive, MatchesPlainLoopOnRandomInputs) {
  torch::manual_seed(0);
  for (double tau : {0.1, 0.2, 1.0}) {
    const auto q = torch::randn({7, 5}), k = torch::randn({7, 5});
    EXPECT_NEAR(contrastive_loss(q, k, tau).item<double>(), reference_ctr(q, k, tau), 1e-4 * (1 + 1 / tau)) << tau;
  }
}

TEST(Contrastive, InvariantToRowScaling) {
  torch::manual_seed(1);
  const auto q = torch::randn({6, 4}), k = torch::randn({6, 4});
  const auto scale = torch::rand({6, 1}) * 10 + 0.1;
  EXPECT_NEAR(contrastive_loss(q * scale, k, 0.2).item<double>(), contrastive_loss(q, k, 0.2).item<double>(), 1e-5);
}

TEST(Contrastive, SymmetrisedIsTheSumOfBothDirections) {
  torch::manual_seed(2);
  const auto q1 = torch::randn({5, 3}), q2 = torch::randn({5, 3}), k1 = torch::randn({5, 3}), k2 = torch::randn({5, 3});
  const double expect = reference_ctr(q1, k2, 0.2) + reference_ctr(q2, k1, 0.2);
  EXPECT_NEAR(symmetric_contrastive_loss(q1, q2, k1, k2, 0.2).item<double>(), expect, 1e-4);
}

TEST(Contrastive, InfoNceOnNodeEmbeddingsAndGradient) {
  torch::manual_seed(3);
  auto pred = torch::randn({9, 6}, torch::kFloat64).requires_grad_(true);
  const auto target = torch::randn({9, 6}, torch::kFloat64);
  auto loss = info_nce_loss(pred, target, 0.5);
  EXPECT_NEAR(loss.item<double>(), reference_ctr(pred.detach(), target, 0.5), 1e-9);
  // Analytic gradient against central differences, in float64.
  loss.backward();
  const auto grad = pred.grad().clone();
  const double eps = 1e-6;
  for (int64_t i : {0, 4, 8}) {
    for (int64_t c : {0, 5}) {
      auto plus = pred.detach().clone(), minus = pred.detach().clone();
      plus[i][c] += eps;
      minus[i][c] -= eps;
      const double numeric =
          (info_nce_loss(plus, target, 0.5).item<double>() - info_nce_loss(minus, target, 0.5).item<double>()) /
          (2 * eps);
      EXPECT_NEAR(grad[i][c].item<double>(), numeric, 1e-6) << i << "," << c;
    }
  }
}

TEST(Contrastive, PerfectAlignmentBeatsRandomPairs) {
  torch::manual_seed(4);
  const auto z = torch::randn({32, 16});
  const double aligned = contrastive_loss(z, z, 0.2).item<double>();
  const double shuffled = contrastive_loss(z, z.roll(1, 0), 0.2).item<double>();
  EXPECT_LT(aligned, shuffled);
}

TEST(Contrastive, RejectsBadShapesAndTau) {
  EXPECT_THROW(contrastive_loss(torch::randn({3, 2}), torch::randn({4, 2}), 0.2), c10::Error);
  EXPECT_THROW(contrastive_loss(torch::randn({3}), torch::randn({3}), 0.2), c10::Error);
  EXPECT_THROW(contrastive_loss(torch::randn({3, 2}), torch::randn({3, 2}), 0.0), c10::Error);
  EXPECT_THROW(info_nce_loss(torch::randn({0, 2}), torch::randn({0, 2}), 1.0), c10::Error);
}
