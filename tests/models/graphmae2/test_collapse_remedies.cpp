// Issue 15's remedies and on_collapse: VICReg's terms against a plain loop, the encoder's input skip on every path
// (full graph, sparse projection, blocks, layer-wise inference), and retry / stop / advise end to end on a graph
// whose embeddings collapse at once (every node has the same features).

#include "datasets/feature_store.h"
#include "models/engine/checkpoint.h"
#include "graph/transforms.h"
#include "models/graphmae2/experiment.h"
#include "models/graphmae2/inference.h"
#include "models/graphmae2/trainer.h"
#include "models/layers/gat.h"
#include "models/ssl/losses.h"

#include "fixtures/errors.h"
#include "fixtures/experiment_options.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>
#include <nlohmann/json.hpp>

namespace gm = graphmae2::models::graphmae2;
namespace layers = graphmae2::models::layers;
namespace ssl = graphmae2::models::ssl;
using graphmae2::testing::error_of;

namespace {

TEST(Vicreg, VarianceAndCovarianceTermsMatchAPlainLoop) {
  torch::manual_seed(3);
  const auto z = (torch::randn({7, 5}, torch::kFloat64) * torch::tensor({0.1, 0.5, 1.0, 2.0, 0.01}, torch::kFloat64));
  const auto zc = z.contiguous();
  const auto* p = zc.data_ptr<double>();
  const int64_t n = 7, d = 5;
  std::vector<double> mean(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[j] += p[i * d + j] / n;
  double variance = 0.0, covariance = 0.0;
  for (int64_t a = 0; a < d; ++a) {
    for (int64_t b = 0; b < d; ++b) {
      double c = 0.0;
      for (int64_t i = 0; i < n; ++i) c += (p[i * d + a] - mean[a]) * (p[i * d + b] - mean[b]);
      c /= (n - 1);
      if (a == b)
        variance += std::max(0.0, 1.0 - std::sqrt(c + 1e-4)) / d;
      else
        covariance += c * c / d;
    }
  }
  EXPECT_NEAR(ssl::variance_loss(z).item<double>(), variance, 1e-12);
  EXPECT_NEAR(ssl::covariance_loss(z).item<double>(), covariance, 1e-12);
  // Spread-out, uncorrelated columns cost nothing; a collapsed embedding costs the whole variance term.
  EXPECT_NEAR(ssl::variance_loss(torch::eye(4, torch::kFloat64) * 10).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(ssl::variance_loss(torch::ones({6, 3}, torch::kFloat64)).item<double>(), 1.0 - 1e-2, 1e-12);
  EXPECT_NE(error_of([] { ssl::covariance_loss(torch::ones({1, 3})); }).find("N >= 2"), std::string::npos);
}

graphmae2::graph::CsrGraph square_graph(int64_t n, int64_t edges, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto src = torch::randint(n, {edges}, gen, torch::kInt64);
  const auto dst = torch::randint(n, {edges}, gen, torch::kInt64);
  return graphmae2::graph::add_self_loops(graphmae2::graph::remove_self_loops(
      graphmae2::graph::CsrGraph::from_edges(torch::cat({src, dst}), torch::cat({dst, src}), n)));
}

TEST(InputSkip, EveryEncoderPathAddsLayerZerosProjection) {
  const int64_t n = 40, in = 6;
  const auto g = square_graph(n, 120, 5);
  const auto x = torch::randn({n, in});
  for (const bool residual : {false, true}) {
    torch::manual_seed(9);
    auto plain = layers::GAT(layers::GATOptions(in, 4, 4, 3).heads(2).out_heads(2).residual(residual));
    auto skip = layers::GAT(layers::GATOptions(in, 4, 4, 3).heads(2).out_heads(2).residual(residual).input_skip(true));
    torch::NoGradGuard no_grad;
    const auto source = plain->named_parameters();
    for (auto& p : skip->named_parameters()) p.value().copy_(source[p.key()]);
    plain->eval();
    skip->eval();
    // Independent reference: the plain stack plus x W0^T (eval: no dropout).
    const auto expected = plain->forward(g, x) + torch::mm(x, plain->first_layer()->fc->weight.t());
    EXPECT_TRUE(torch::allclose(skip->forward(g, x), expected, 1e-5, 1e-6)) << "residual " << residual;
    if (!residual) {
      const auto projected = torch::mm(x, plain->first_layer()->fc->weight.t());
      EXPECT_TRUE(torch::allclose(skip->forward_projected(g, projected), expected, 1e-5, 1e-6));
    }
    // Blocks: the last destinations are a prefix of the first sources.
    const auto rows = torch::tensor({3, 17, 29}, torch::kInt64);
    const auto b2 = graphmae2::graph::select_rows(g, rows);
    const auto b1 = graphmae2::graph::select_rows(g, b2.src_ids);
    const auto b0 = graphmae2::graph::select_rows(g, b1.src_ids);
    const auto blocks = skip->forward_blocks({b0, b1, b2}, x.index_select(0, b0.src_ids));
    EXPECT_TRUE(torch::allclose(blocks, expected.index_select(0, rows), 1e-5, 1e-6)) << "residual " << residual;
  }
  // The skip adds layer 0's width to the output's: they must agree.
  EXPECT_NE(error_of([&] {
              layers::GAT(layers::GATOptions(in, 4, 6, 2).heads(2).out_heads(1).input_skip(true));
            }).find("input_skip"),
            std::string::npos);
}

TEST(InputSkip, LayerwiseInferenceAndTheSparseProjectionEqualTheFullGraphEmbedding) {
  const auto data = graphmae2::testing::tiny_dataset(80, 40, 4, 4);
  gm::GraphMAE2Config cfg;
  cfg.num_hidden = 8;
  cfg.num_heads = 2;
  cfg.input_skip = true;
  cfg.feature_norm = gm::FeatureNorm::none;
  auto sparse_data = data;
  sparse_data.features = (data.features > 1.0).to(torch::kFloat32);  // 1/4 non-zero: the sparse projection
  const auto dense = gm::prepare_inputs(data, cfg);
  const auto sparse = gm::prepare_inputs(sparse_data, cfg);
  ASSERT_EQ(dense.sparse(), nullptr);
  ASSERT_NE(sparse.sparse(), nullptr);
  torch::manual_seed(2);
  auto model = gm::build_model(cfg, data.feature_dim());
  for (const auto* input : {&dense, &sparse}) {
    const auto full = gm::embed(model, *input);
    const auto layerwise =
        gm::embed_layerwise(model, input->graph, graphmae2::datasets::FeatureStore(input->features), 16, torch::kCPU);
    EXPECT_TRUE(torch::allclose(layerwise, full, 1e-5, 1e-6)) << (layerwise - full).abs().max().item<float>();
    torch::NoGradGuard no_grad;
    model->eval();
    const auto without_sparse = model->embed(input->graph, input->features);
    EXPECT_TRUE(torch::allclose(without_sparse, full, 1e-5, 1e-6));
  }
}

TEST(SelfReconstruction, IsTheUnmaskedRowsSceThroughTheSelfDecoderAndTrainsTheEncoder) {
  const auto data = graphmae2::testing::tiny_dataset(50, 10, 3, 3);
  gm::GraphMAE2Config cfg;
  cfg.num_hidden = 8;
  cfg.num_heads = 2;
  cfg.feature_norm = gm::FeatureNorm::none;
  cfg.self_reconstruction = 0.5;
  const auto inputs = gm::prepare_inputs(data, cfg);
  torch::manual_seed(4);
  auto model = gm::build_model(cfg, data.feature_dim());
  ASSERT_FALSE(model->self_decoder.is_empty());
  gm::GraphMAE2Batch batch{inputs.graph, {}, {}, inputs.features, nullptr, torch::arange(50)};
  gm::MaskPlan plan;
  plan.mask_nodes = torch::tensor({0, 3, 4, 17, 30, 49}, torch::kInt64);
  plan.remask_nodes = {torch::tensor({1, 2}, torch::kInt64)};
  const auto losses = model->forward(batch, plan, cfg.loss_options());

  // Plain loop: mean over the 44 unmasked rows of (1 - cos(self_decoder(h_i), x_i))^alpha_l.
  const auto pred = model->self_decoder->forward(losses.encoding).detach().to(torch::kFloat64).contiguous();
  const auto x = inputs.features.to(torch::kFloat64).contiguous();
  const std::set<int64_t> masked{0, 3, 4, 17, 30, 49};
  double expected = 0.0;
  for (int64_t i = 0; i < 50; ++i) {
    if (masked.count(i) != 0) continue;
    double dot = 0.0, pp = 0.0, xx = 0.0;
    for (int64_t j = 0; j < x.size(1); ++j) {
      const double a = pred[i][j].item<double>(), b = x[i][j].item<double>();
      dot += a * b;
      pp += a * a;
      xx += b * b;
    }
    expected += std::pow(1.0 - dot / (std::sqrt(pp) * std::sqrt(xx)), cfg.alpha_l) / 44.0;
  }
  EXPECT_NEAR(losses.self_reconstruction.item<double>(), expected, 1e-5);
  EXPECT_NEAR(losses.total.item<double>(),
              (losses.reconstruction + cfg.lam * losses.latent + 0.5 * losses.self_reconstruction).item<double>(),
              1e-6);

  // Its gradient reaches the encoder's first projection, not only the self decoder.
  model->zero_grad();
  losses.self_reconstruction.backward();
  EXPECT_GT(model->self_decoder->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(model->encoder->first_layer()->fc->weight.grad().abs().sum().item<double>(), 0.0);

  // The self decoder alone is something to train: both other branches may be off.
  cfg.use_reconstruction = false;
  cfg.use_latent = false;
  EXPECT_NO_THROW(cfg.validate());
  const auto alone = model->forward(batch, plan, cfg.loss_options());
  EXPECT_NEAR(alone.total.item<double>(), 0.5 * alone.self_reconstruction.item<double>(), 1e-7);
  EXPECT_EQ(alone.reconstruction.item<double>(), 0.0);
  cfg.self_reconstruction = 0.0;
  EXPECT_NE(error_of([&] { cfg.validate(); }).find("self_reconstruction > 0"), std::string::npos);
  cfg.use_reconstruction = cfg.use_latent = true;
  auto without = gm::build_model(cfg, data.feature_dim());
  EXPECT_TRUE(without->self_decoder.is_empty());
  auto loss = cfg.loss_options();
  loss.self_reconstruction = 1.0;
  EXPECT_NE(error_of([&] { without->forward(batch, plan, loss); }).find("without a self_decoder"), std::string::npos);
}

// Every node has the same features: the encoder's output is one vector, a collapse at the first diagnostics.
graphmae2::datasets::NodeDataset collapsing_dataset() {
  auto data = graphmae2::testing::tiny_dataset(60, 12, 3, 3);
  data.features = torch::ones_like(data.features);
  return data;
}

gm::GraphMAE2Config small_config() {
  auto cfg = graphmae2::testing::small_graphmae2_config(6);
  cfg.diag_every = 2;
  return cfg;
}

gm::ExperimentOptions options(const std::string& name) { return graphmae2::testing::quiet_experiment(name, {0, 1}); }

nlohmann::json read_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  return nlohmann::json::parse(in);
}

TEST(OnCollapse, RetryStopsTheSeedAtTheFlagAndTrainsItOnceMoreWithTheRemedy) {
  const auto data = collapsing_dataset();
  auto cfg = small_config();
  cfg.on_collapse = gm::OnCollapse::retry;
  const auto o = options("on-collapse-retry");
  const auto result = gm::run_experiment(cfg, data, o);
  ASSERT_EQ(result.seeds.size(), 2u);
  for (const auto& s : result.seeds) {
    ASSERT_TRUE(s.collapsed_attempt.has_value()) << "seed " << s.seed;
    const auto& a = *s.collapsed_attempt;
    EXPECT_EQ(a.epoch, 0) << "the first diagnostics (epoch 0) flag it; training stops there";
    EXPECT_FALSE(a.warnings.empty());
    EXPECT_GT(a.figures.at("mean_cosine"), 0.99);
    const auto dir = o.out_dir / ("seed" + std::to_string(s.seed) + "-collapsed");
    EXPECT_EQ(a.dir, dir);
    EXPECT_TRUE(std::filesystem::exists(dir / "collapse.json"));
    EXPECT_TRUE(std::filesystem::exists(dir / "metrics.jsonl"));
    // The retry ran to the end (6 epochs), and was not retried again though it collapses too (same features).
    EXPECT_EQ(s.epochs_run, 6);
    EXPECT_FALSE(s.warnings.empty());
  }
  // The retry trained the remedy: its checkpoint's model has the input skip, and so has the embeddings' config.
  const auto stored = gm::embeddings_config(o.out_dir / "embeddings_seed0.h5");
  ASSERT_TRUE(stored.has_value());
  std::string remedy;
  for (const auto& [key, value] : gm::GraphMAE2Config::collapse_remedy()) {
    EXPECT_NE(stored->to_yaml().find(key + ": " + value), std::string::npos) << key;
    remedy += (remedy.empty() ? "" : " ") + key + "=" + value;
  }
  EXPECT_EQ(result.seeds[0].collapsed_attempt->remedy, remedy);
  const auto state =
      graphmae2::models::engine::read_checkpoint_state(o.out_dir / "seed0" / "checkpoint.pt", "graphmae2");
  EXPECT_NE(state.config_yaml.find("input_skip: true"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(o.out_dir / "seed0" / "collapse.json"))
      << "the record stays with the stopped run";
  const auto json = read_json(o.out_dir / "result.json");
  ASSERT_EQ(json.at("retries").size(), 2u);
  EXPECT_EQ(json["retries"][0].at("seed"), 0);
  EXPECT_EQ(json["retries"][0].at("epoch"), 0);
  EXPECT_DOUBLE_EQ(json["retries"][1].at("retry_accuracy").get<double>(), json["accuracies"][1].get<double>());
  EXPECT_NE(result.summary_line().find("seed 1 retried with " + remedy + " after a collapse at epoch 0"),
            std::string::npos)
      << result.summary_line();

  // --resume of the finished run: the retried seeds continue with the remedy (their checkpoints match it), and
  // report the stopped attempt again from collapse.json.
  auto again = o;
  again.resume = true;
  const auto resumed = gm::run_experiment(cfg, data, again);
  for (size_t i = 0; i < resumed.seeds.size(); ++i) {
    ASSERT_TRUE(resumed.seeds[i].collapsed_attempt.has_value());
    EXPECT_EQ(resumed.seeds[i].collapsed_attempt->figures, result.seeds[i].collapsed_attempt->figures);
    EXPECT_EQ(resumed.seeds[i].probe.test_acc, result.seeds[i].probe.test_acc);
  }
}

TEST(OnCollapse, StopEndsTheRunAndAdviseGoesOn) {
  const auto data = collapsing_dataset();
  auto cfg = small_config();
  cfg.on_collapse = gm::OnCollapse::stop;
  EXPECT_THROW(gm::run_experiment(cfg, data, options("on-collapse-stop")), gm::CollapseDetected);
  cfg.on_collapse = gm::OnCollapse::advise;
  const auto result = gm::run_experiment(cfg, data, options("on-collapse-advise"));
  for (const auto& s : result.seeds) {
    EXPECT_FALSE(s.collapsed_attempt.has_value());
    EXPECT_FALSE(s.warnings.empty());
    EXPECT_EQ(s.epochs_run, 6);
  }
  EXPECT_EQ(result.summary_line().find("retried"), std::string::npos);
}

TEST(OnCollapse, AHealthyRunIsNeverRetried) {
  auto cfg = small_config();
  cfg.on_collapse = gm::OnCollapse::retry;
  const auto o = options("on-collapse-healthy");
  const auto result = gm::run_experiment(cfg, graphmae2::testing::tiny_dataset(60, 12, 3, 3), o);
  for (const auto& s : result.seeds) {
    EXPECT_FALSE(s.collapsed_attempt.has_value()) << "seed " << s.seed;
    EXPECT_FALSE(std::filesystem::exists(o.out_dir / ("seed" + std::to_string(s.seed) + "-collapsed")));
  }
}

TEST(OnCollapse, TheKeyIsReadAndCheckedLikeEveryOther) {
  gm::GraphMAE2Config cfg;
  cfg.apply_overrides({{"on_collapse", "retry"}});
  EXPECT_EQ(cfg.on_collapse, gm::OnCollapse::retry);
  const auto bad = error_of([&] { cfg.apply_overrides({{"on_collapse", "maybe"}}); });
  EXPECT_NE(bad.find("maybe"), std::string::npos) << bad;
  const auto remedied = cfg.with_collapse_remedy();
  EXPECT_TRUE(remedied.input_skip);
  EXPECT_EQ(remedied.on_collapse, gm::OnCollapse::advise) << "a retry is not retried";
  EXPECT_EQ(remedied.feature_norm, gm::FeatureNorm::standard);
  EXPECT_EQ(remedied.self_reconstruction, 1.0);
  EXPECT_EQ(remedied.use_reconstruction, cfg.use_reconstruction) << "the masked reconstruction stays";
  EXPECT_TRUE(remedied.model_options(8).self_decoder()) << "the remedied model has the self decoder";
  // Features normalised in their cache or read from disk keep their normalisation.
  EXPECT_EQ(cfg.with_collapse_remedy(/*inputs_fixed=*/true).feature_norm, cfg.feature_norm);
  EXPECT_TRUE(cfg.with_collapse_remedy(true).input_skip);
}

}  // namespace
