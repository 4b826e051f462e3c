#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "datasets/registry.h"
#include "fixtures/paths.h"
#include "models/train/config.h"
#include "models/train/experiment.h"

namespace train = graphmae2::models::train;

// A short real GraphMAE2 run on Cora (the reference's configuration, narrowed to keep the test fast) is
// healthy: the diagnostics must stay silent, and the embeddings must be good enough to show it learned.
TEST(DiagnosticsCora, ShortRealRunRaisesNoFlag) {
  const auto root = graphmae2::testing::shared_datasets_dir();
  if (!std::filesystem::exists(root / "planetoid" / "ind.cora.graph")) GTEST_SKIP() << "no Cora under " << root;
  auto data = graphmae2::datasets::load_node_dataset("cora", root);

  train::TrainConfig cfg;
  train::apply_config_file(cfg, std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
  cfg.num_hidden = 128;  // 4 heads x 32 instead of 8 x 128: the same model, 60x cheaper
  cfg.num_heads = 4;
  cfg.max_epoch = 10;
  cfg.max_epoch_f = 100;
  cfg.diag_every = 5;
  cfg.validate();

  train::ExperimentOptions options;
  options.out_dir = graphmae2::testing::scratch_dir("diagnostics_cora");
  options.seeds = {0};
  options.progress = false;
  options.fail_on_collapse = true;  // a collapse flag would throw CollapseDetected
  const auto result = train::run_experiment(cfg, data, options);

  ASSERT_EQ(result.seeds.size(), 1u);
  for (const auto& w : result.seeds[0].warnings) ADD_FAILURE() << w;
  // A collapsed encoder probes at the majority class (~32% of Cora's test nodes); this one is far above it.
  EXPECT_GT(result.mean, 50.0);
}
