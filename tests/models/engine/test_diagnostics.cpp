#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "models/ssl/ema.h"
#include "models/ssl/losses.h"
#include "models/engine/diagnostics.h"

using graphmae2::models::engine::Diagnostics;
using graphmae2::models::engine::DiagnosticsOptions;
using graphmae2::models::engine::effective_rank;
using graphmae2::models::engine::Flag;
using graphmae2::models::engine::FlagKind;
using graphmae2::models::engine::GradGroup;
using graphmae2::models::engine::GradMonitor;
using graphmae2::models::engine::mean_pairwise_cosine;
using graphmae2::models::engine::per_dim_std;
using graphmae2::models::engine::sample_rows;

namespace {

int count_kind(const std::vector<Flag>& flags, FlagKind kind) {
  int n = 0;
  for (const auto& f : flags) n += f.kind == kind;
  return n;
}

const Flag* find(const std::vector<Flag>& flags, FlagKind kind, const std::string& measurement) {
  for (const auto& f : flags) {
    if (f.kind == kind && f.measurement == measurement) return &f;
  }
  return nullptr;
}

// Plain-loop references in double.
double ref_mean_cosine(const torch::Tensor& x) {
  auto a = x.to(torch::kDouble).contiguous();
  const int64_t n = a.size(0), d = a.size(1);
  auto acc = a.accessor<double, 2>();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double dot = 0, ni = 0, nj = 0;
      for (int64_t k = 0; k < d; ++k) {
        dot += acc[i][k] * acc[j][k];
        ni += acc[i][k] * acc[i][k];
        nj += acc[j][k] * acc[j][k];
      }
      sum += dot / std::sqrt(ni * nj);
    }
  }
  return sum / static_cast<double>(n * (n - 1));
}

double ref_per_dim_std(const torch::Tensor& x) {
  auto a = x.to(torch::kDouble).contiguous();
  const int64_t n = a.size(0), d = a.size(1);
  auto acc = a.accessor<double, 2>();
  std::vector<std::vector<double>> z(n, std::vector<double>(d));
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0;
    for (int64_t k = 0; k < d; ++k) norm += acc[i][k] * acc[i][k];
    for (int64_t k = 0; k < d; ++k) z[i][k] = acc[i][k] / std::sqrt(norm);
  }
  double total = 0;
  for (int64_t k = 0; k < d; ++k) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += z[i][k] / n;
    for (int64_t i = 0; i < n; ++i) var += (z[i][k] - mean) * (z[i][k] - mean) / n;
    total += std::sqrt(var);
  }
  return total / d;
}

}  // namespace

TEST(EffectiveRank, IdentityGivesItsSize) {
  EXPECT_NEAR(effective_rank(torch::eye(8)), 8.0, 1e-4);
  EXPECT_NEAR(effective_rank(torch::eye(37, torch::kDouble)), 37.0, 1e-3);
  // Rows permuted and scaled by the same factor: singular values all equal still.
  EXPECT_NEAR(effective_rank(3.0 * torch::eye(5).index_select(0, torch::tensor({4, 2, 0, 1, 3}))), 5.0, 1e-4);
}

TEST(EffectiveRank, RankOneGivesOne) {
  torch::manual_seed(0);
  auto m = torch::outer(torch::randn({40}), torch::randn({16}));
  EXPECT_NEAR(effective_rank(m), 1.0, 1e-4);
  EXPECT_NEAR(effective_rank(torch::ones({10, 6})), 1.0, 1e-4);
  EXPECT_DOUBLE_EQ(effective_rank(torch::zeros({4, 3})), 1.0);
}

TEST(EffectiveRank, HandComputedTwoByTwo) {
  // Singular values 3 and 1: p = (0.75, 0.25), erank = exp(-(0.75 ln 0.75 + 0.25 ln 0.25)) = 1.75476...
  const double h = -(0.75 * std::log(0.75) + 0.25 * std::log(0.25));
  EXPECT_NEAR(effective_rank(torch::tensor({{3.0, 0.0}, {0.0, 1.0}})), std::exp(h), 1e-5);
  EXPECT_NEAR(std::exp(h), 1.754765, 1e-6);
}

TEST(EffectiveRank, SamplesAtMostMaxRows) {
  // 10 rows of a 100 x 100 identity are 10 orthonormal rows: rank 10, not 100.
  EXPECT_NEAR(effective_rank(torch::eye(100), /*max_rows=*/10, /*seed=*/3), 10.0, 1e-4);
  EXPECT_THROW(effective_rank(torch::ones({3})), c10::Error);
  EXPECT_THROW(effective_rank(torch::ones({3, 3}, torch::kLong)), c10::Error);
  EXPECT_THROW(effective_rank(torch::full({3, 3}, std::numeric_limits<float>::quiet_NaN())), c10::Error);
}

TEST(SampleRows, SeededDistinctSortedRows) {
  auto x = torch::arange(50, torch::kFloat).unsqueeze(1);
  auto a = sample_rows(x, 12, 7), b = sample_rows(x, 12, 7), c = sample_rows(x, 12, 8);
  ASSERT_EQ(a.size(0), 12);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  auto v = a.squeeze(1);
  for (int64_t i = 1; i < 12; ++i) EXPECT_LT(v[i - 1].item<float>(), v[i].item<float>());  // distinct, in order
  EXPECT_TRUE(torch::equal(sample_rows(x, 50, 1), x));
}

TEST(PerDimStd, MatchesPlainLoopAndHandValues) {
  // Rows e1 and e2: each column is (1, 0) -> population std 0.5.
  EXPECT_NEAR(per_dim_std(torch::tensor({{2.0, 0.0}, {0.0, 5.0}})), 0.5, 1e-12);
  EXPECT_NEAR(per_dim_std(torch::ones({20, 4}) * torch::tensor({1.0, 2.0, 3.0, 4.0})), 0.0, 1e-12);
  torch::manual_seed(1);
  auto x = torch::randn({30, 7});
  EXPECT_NEAR(per_dim_std(x), ref_per_dim_std(x), 1e-6);
}

TEST(MeanPairwiseCosine, MatchesPlainLoopAndHandValues) {
  EXPECT_NEAR(mean_pairwise_cosine(torch::tensor({{1.0, 0.0}, {-3.0, 0.0}})), -1.0, 1e-12);
  EXPECT_NEAR(mean_pairwise_cosine(torch::ones({9, 3})), 1.0, 1e-12);
  torch::manual_seed(2);
  auto x = torch::randn({30, 5});
  EXPECT_NEAR(mean_pairwise_cosine(x), ref_mean_cosine(x), 1e-6);
  EXPECT_THROW(mean_pairwise_cosine(torch::ones({1, 3})), c10::Error);
}

TEST(Diagnostics, ConstantEncoderOutputIsRepresentationCollapse) {
  // An encoder whose output is constant: zero weight, constant bias.
  torch::nn::Linear enc(16, 32);
  {
    torch::NoGradGuard ng;
    enc->weight.zero_();
    enc->bias.fill_(0.3);
  }
  Diagnostics diag;
  auto emb = enc->forward(torch::randn({200, 16}));
  diag.observe_embeddings(5, emb);
  auto flags = diag.take_new_flags();
  EXPECT_EQ(count_kind(flags, FlagKind::kRepresentationCollapse), 3);
  const Flag* s = find(flags, FlagKind::kRepresentationCollapse, "embedding_std");
  ASSERT_NE(s, nullptr);
  EXPECT_NEAR(s->value, 0.0, 1e-9);
  EXPECT_NEAR(s->threshold, 0.1 / std::sqrt(32.0), 1e-12);
  EXPECT_EQ(s->epoch, 5);
  const Flag* r = find(flags, FlagKind::kRepresentationCollapse, "effective_rank");
  ASSERT_NE(r, nullptr);
  EXPECT_NEAR(r->value, 1.0, 1e-4);
  EXPECT_DOUBLE_EQ(r->threshold, 2.0);  // max(2, 0.01 * 32)
  EXPECT_NE(find(flags, FlagKind::kRepresentationCollapse, "mean_cosine"), nullptr);
  EXPECT_TRUE(diag.has_collapse());
  const std::string line = graphmae2::models::engine::format(*s);
  EXPECT_NE(line.find("representation collapse at epoch 5"), std::string::npos) << line;
  EXPECT_NE(line.find("embedding_std = 0 < 0.01768"), std::string::npos) << line;
  EXPECT_NE(line.find(DiagnosticsOptions().representation_advice()), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  // Seen again: no new flag, but the figures follow.
  diag.observe_embeddings(6, emb);
  EXPECT_TRUE(diag.take_new_flags().empty());
  EXPECT_NEAR(diag.metrics().at("mean_cosine"), 1.0, 1e-9);
}

TEST(Diagnostics, LossToZeroWithinThreeEpochsIsLossCollapse) {
  Diagnostics diag;
  diag.observe_losses(0, {{"loss", 1.1}, {"loss_rec", 0.9}});
  diag.observe_losses(1, {{"loss", 0.3}, {"loss_rec", 0.05}});
  EXPECT_TRUE(diag.take_new_flags().empty());
  diag.observe_losses(2, {{"loss", 0.25}, {"loss_rec", 0.0005}});
  auto flags = diag.take_new_flags();
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].kind, FlagKind::kLossCollapse);
  EXPECT_EQ(flags[0].measurement, "loss_rec");
  EXPECT_DOUBLE_EQ(flags[0].value, 0.0005);
  EXPECT_DOUBLE_EQ(flags[0].threshold, 1e-3);
  EXPECT_EQ(flags[0].epoch, 2);
  EXPECT_NE(flags[0].advice.find("within 3 epochs"), std::string::npos) << flags[0].advice;
  EXPECT_NE(flags[0].advice.find("remask_rate"), std::string::npos) << flags[0].advice;
  EXPECT_TRUE(diag.has_collapse());
}

TEST(Diagnostics, ALatentLossMatchingAFixedTeacherIsNotACollapse) {
  // CiteSeer's shipped config (momentum 1): the latent term falls 99.9% in 18 epochs while the embeddings stay
  // healthy. Judged as a moving teacher's, it is a loss collapse; with the teacher fixed, no flag.
  for (const bool fixed : {false, true}) {
    Diagnostics diag(DiagnosticsOptions().latent_target_fixed(fixed));
    diag.observe_losses(0, {{"loss_rec", 0.9}, {"loss_latent", 0.5}});
    diag.observe_losses(18, {{"loss_rec", 0.6}, {"loss_latent", 2e-4}});
    const auto flags = diag.take_new_flags();
    EXPECT_EQ(count_kind(flags, FlagKind::kLossCollapse), fixed ? 0 : 1) << "fixed teacher " << fixed;
    EXPECT_EQ(diag.has_collapse(), !fixed);
    // The reconstruction term is judged either way.
    diag.observe_losses(19, {{"loss_rec", 1e-4}, {"loss_latent", 2e-4}});
    const auto later = diag.take_new_flags();
    EXPECT_NE(find(later, FlagKind::kLossCollapse, "loss_rec"), nullptr);
  }
}

TEST(Diagnostics, ALossTinyFromTheStartIsItsScaleNotACollapse) {
  // The measured case: MSE on Cora's row-normalised features starts at 1.5e-4 and stays there.
  Diagnostics diag;
  diag.observe_losses(0, {{"loss_rec", 1.53e-4}});
  for (int64_t e = 1; e < 20; ++e) diag.observe_losses(e, {{"loss_rec", 1.45e-4}});
  auto flags = diag.take_new_flags();
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_EQ(flags[0].kind, FlagKind::kTinyLossScale);
  EXPECT_EQ(flags[0].epoch, 0);
  EXPECT_NE(flags[0].advice.find("loss_fn sce"), std::string::npos) << flags[0].advice;
  EXPECT_FALSE(diag.has_collapse());
  // A real fall below 1% of that first value is still a collapse.
  diag.observe_losses(20 - 1, {{"loss_rec", 1e-7}});
  EXPECT_TRUE(diag.has_collapse());
}

TEST(Diagnostics, RelativeDropIsLossCollapse) {
  // Above the absolute floor, but 99.2% below its first value.
  Diagnostics diag;
  diag.observe_losses(1, {{"loss_rec", 5.0}});
  diag.observe_losses(2, {{"loss_rec", 0.06}});
  EXPECT_TRUE(diag.take_new_flags().empty());  // 98.8%: not yet
  diag.observe_losses(3, {{"loss_rec", 0.04}});
  auto flags = diag.take_new_flags();
  ASSERT_EQ(flags.size(), 1u);
  EXPECT_NEAR(flags[0].threshold, 0.05, 1e-12);
}

TEST(Diagnostics, SmallLossLateInTrainingIsNotCollapse) {
  Diagnostics diag;
  for (int64_t e = 0; e < 1000; ++e) diag.observe_losses(e, {{"loss", 0.9 * std::exp(-e / 100.0)}});
  // 0.9 * exp(-10) = 4e-5 at the end, but the 99% drop happens at epoch ~461, long after the first 20.
  EXPECT_TRUE(diag.flags().empty());
}

TEST(Diagnostics, ExplodingLrIsFlagged) {
  torch::manual_seed(3);
  torch::nn::Linear lin(8, 8);
  GradMonitor monitor({GradGroup("encoder", *lin)});
  Diagnostics diag;
  torch::optim::SGD opt(lin->parameters(), torch::optim::SGDOptions(100.0));
  auto x = torch::randn({32, 8}), y = torch::randn({32, 8});
  for (int64_t step = 0; step < 30; ++step) {
    opt.zero_grad();
    (lin->forward(x) - y).pow(2).mean().backward();
    diag.observe_grads(step / 10, step, monitor.record(step));
    opt.step();
  }
  auto flags = diag.take_new_flags();
  ASSERT_GE(count_kind(flags, FlagKind::kExplodingGradients), 1);
  const Flag* f = find(flags, FlagKind::kExplodingGradients, "grad_norm[encoder]");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->above);
  EXPECT_NE(f->advice.find("lower lr"), std::string::npos);
  EXPECT_NE(f->advice.find("clipping"), std::string::npos);
  EXPECT_FALSE(diag.has_collapse());  // instability, not collapse
  EXPECT_TRUE(diag.metrics().count("grad_norm"));
}

TEST(Diagnostics, VanishingAndSpikeFromNormSequences) {
  Diagnostics diag(DiagnosticsOptions().grad(graphmae2::models::engine::GradMonitorOptions().vanish_patience(4)));
  for (int64_t s = 0; s < 20; ++s) diag.observe_grads(0, s, {{"total", 1.0}, {"decoder", 0.0}});
  diag.observe_grads(1, 20, {{"total", 25.0}, {"decoder", 0.0}});
  auto flags = diag.take_new_flags();
  const Flag* v = find(flags, FlagKind::kVanishingGradients, "grad_norm[decoder]");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->epoch, 0);
  const Flag* sp = find(flags, FlagKind::kGradientSpike, "grad_norm[total]");
  ASSERT_NE(sp, nullptr);
  EXPECT_DOUBLE_EQ(sp->threshold, 10.0);
  EXPECT_EQ(sp->epoch, 1);
  EXPECT_NE(sp->advice.find("25x"), std::string::npos) << sp->advice;
  EXPECT_EQ(flags.size(), 2u);
  EXPECT_DOUBLE_EQ(diag.metrics().at("grad_norm"), 25.0);
  EXPECT_DOUBLE_EQ(diag.metrics().at("grad_spikes"), 1.0);
}

TEST(Diagnostics, TeacherEqualsStudentWithZeroLatentLossIsTrivialAgreement) {
  // Momentum 0: the teacher becomes the student; with the same input the latent loss is exactly 0.
  torch::manual_seed(4);
  auto student = std::make_shared<torch::nn::LinearImpl>(6, 6);
  auto teacher = std::dynamic_pointer_cast<torch::nn::LinearImpl>(student->clone());
  graphmae2::models::ssl::EmaUpdater ema(student, teacher);
  auto x = torch::randn({50, 6});
  Diagnostics diag;
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    auto pred = student->forward(x);
    torch::Tensor target;
    {
      torch::NoGradGuard ng;
      target = teacher->forward(x);
    }
    const double latent = graphmae2::models::ssl::sce_loss(pred, target, 1.0).item<double>();
    ema.update(0.0);
    diag.observe_losses(epoch, {{"loss_latent", latent}});
    diag.observe_teacher(epoch, ema.distance());
  }
  auto flags = diag.take_new_flags();
  const Flag* f = find(flags, FlagKind::kTrivialAgreement, "loss_latent");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->epoch, 0);
  EXPECT_LT(f->value, 1e-6);
  EXPECT_NE(f->advice.find("momentum"), std::string::npos);
  EXPECT_DOUBLE_EQ(diag.metrics().at("teacher_distance"), 0.0);
  EXPECT_TRUE(diag.has_collapse());
}

TEST(Diagnostics, ZeroLatentLossWithLaggingTeacherIsNotTrivialAgreement) {
  Diagnostics diag;
  diag.observe_losses(0, {{"loss_latent", 0.0}});
  diag.observe_teacher(0, 0.7);
  diag.observe_teacher(1, 0.0);  // distance ~0 at a later epoch, but no latent loss of that epoch yet
  EXPECT_EQ(count_kind(diag.flags(), FlagKind::kTrivialAgreement), 0);
  EXPECT_EQ(count_kind(diag.flags(), FlagKind::kLossCollapse), 1);  // 0 < 1e-3 still reads as loss collapse
}

TEST(Diagnostics, HealthyRunRaisesNoFlag) {
  torch::manual_seed(5);
  Diagnostics diag;
  for (int64_t epoch = 0; epoch < 100; ++epoch) {
    const double rec = 0.6 * std::exp(-epoch / 300.0) + 0.2, latent = 0.3 * std::exp(-epoch / 500.0) + 0.1;
    diag.observe_losses(epoch, {{"loss", rec + latent}, {"loss_rec", rec}, {"loss_latent", latent}});
    diag.observe_teacher(epoch, 0.5 + 0.01 * epoch);
    for (int64_t s = 0; s < 5; ++s) {
      const double jitter = 1.0 + 0.3 * std::sin(0.9 * static_cast<double>(epoch * 5 + s));
      diag.observe_grads(epoch, epoch * 5 + s, {{"total", 2.0 * jitter}, {"encoder", jitter}});
    }
    if (epoch % 10 == 0) diag.observe_embeddings(epoch, torch::randn({500, 64}));
  }
  for (const auto& f : diag.flags()) ADD_FAILURE() << graphmae2::models::engine::format(f);
  EXPECT_FALSE(diag.has_collapse());
  const auto m = diag.metrics();
  EXPECT_GT(m.at("effective_rank"), 55.0);  // Gaussian 500 x 64: singular values within ~sqrt(64/500) of equal
  EXPECT_LE(m.at("effective_rank"), 64.0);
  EXPECT_NEAR(m.at("embedding_std"), 1.0 / 8.0, 0.01);
  EXPECT_NEAR(m.at("mean_cosine"), 0.0, 0.01);
  EXPECT_DOUBLE_EQ(m.at("diag_flags"), 0.0);
  EXPECT_DOUBLE_EQ(m.at("grad_spikes"), 0.0);
}

TEST(Diagnostics, NonFiniteIsFlaggedButNotCollapse) {
  Diagnostics diag;
  diag.observe_losses(0, {{"loss", std::numeric_limits<double>::quiet_NaN()}});
  auto emb = torch::randn({10, 4});
  emb[3][1] = std::numeric_limits<float>::infinity();
  diag.observe_embeddings(0, emb);
  auto flags = diag.take_new_flags();
  ASSERT_EQ(flags.size(), 2u);
  EXPECT_EQ(count_kind(flags, FlagKind::kNonFinite), 2);
  EXPECT_NE(graphmae2::models::engine::format(flags[0]).find("loss = nan (not finite)"), std::string::npos)
      << graphmae2::models::engine::format(flags[0]);
  EXPECT_FALSE(diag.has_collapse());
  EXPECT_EQ(diag.metrics().count("effective_rank"), 0u);
  EXPECT_THROW(diag.observe_embeddings(0, torch::ones({1, 4})), c10::Error);
}

TEST(Diagnostics, ResumedRunIsNotJudgedByItsFirstValueSeenMidRun) {
  // --resume at epoch 650 of Cora: the latent term is ~1e-6 there, as it was from epoch 0 on.
  Diagnostics diag;
  for (int64_t e = 650; e < 700; ++e) {
    diag.observe_losses(e, {{"loss_latent", 2e-6}, {"loss_rec", 0.4}});
    diag.observe_teacher(e, 1e-7);  // momentum 0 and lr ~0: the teacher is the student
  }
  EXPECT_TRUE(diag.flags().empty()) << format(diag.flags().front());
  // A term falling to ~0 long after the start is convergence, not a shortcut found within a few epochs.
  diag.observe_losses(700, {{"loss_latent", 2e-6}, {"loss_rec", 1e-5}});
  EXPECT_TRUE(diag.flags().empty());
}

TEST(Diagnostics, TinyLatentScaleIsNotTrivialAgreementWhenTheTeacherStops) {
  // The shipped Cora config on the GPU: latent ~1e-6 from the start, momentum 0, cosine lr ending at ~0.
  Diagnostics diag;
  diag.observe_losses(0, {{"loss_latent", 1.9e-6}});
  diag.observe_teacher(0, 0.1);
  diag.observe_losses(1998, {{"loss_latent", 1e-8}});
  diag.observe_teacher(1998, 6.7e-7);
  EXPECT_EQ(count_kind(diag.flags(), FlagKind::kTrivialAgreement), 0);
  EXPECT_EQ(count_kind(diag.flags(), FlagKind::kTinyLossScale), 1);
  EXPECT_FALSE(diag.has_collapse());
}
