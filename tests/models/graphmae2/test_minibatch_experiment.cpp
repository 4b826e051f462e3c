// Mini-batch runs end to end on a tiny graph: ego-graphs computed and cached, then reused; bad input refused
// before training with the value named (another ego size, batch_size over the seeds, float16 overflow).

#include "datasets/ego_graphs_h5.h"
#include "models/graphmae2/experiment.h"

#include "fixtures/errors.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

namespace gm = graphmae2::models::graphmae2;
using graphmae2::testing::error_of;

namespace {

gm::GraphMAE2Config lc_config() {
  gm::GraphMAE2Config cfg;
  cfg.dataset = "tiny";
  cfg.num_hidden = 8;
  cfg.num_heads = 2;
  cfg.max_epoch = 2;
  cfg.max_epoch_f = 5;
  cfg.sampler = gm::Sampler::lc;
  cfg.ego_size = 8;
  cfg.batch_size = 16;
  cfg.drop_edge_rate = 0.5;
  return cfg;
}

gm::ExperimentOptions options(const std::string& name) {
  gm::ExperimentOptions o;
  o.out_dir = graphmae2::testing::scratch_dir(name);
  o.progress = false;
  return o;
}

TEST(MiniBatchExperiment, EgoGraphsAreComputedCachedAndReused) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto o = options("mb-exp-cache");
  const auto first = gm::run_experiment(lc_config(), data, o);
  const auto file = o.out_dir / "lc-ego8.h5";
  ASSERT_TRUE(std::filesystem::exists(file));
  const auto egos = graphmae2::datasets::load_ego_graphs_h5(file);
  EXPECT_EQ(egos.options.ego_size, 8);
  const auto written = std::filesystem::last_write_time(file);
  auto again = options("mb-exp-cache-2");
  auto cfg = lc_config();
  cfg.lc_file = file.string();
  const auto second = gm::run_experiment(cfg, data, again);
  EXPECT_EQ(std::filesystem::last_write_time(file), written) << "reused, not recomputed";
  EXPECT_EQ(first.mean, second.mean) << "the same ego-graphs, the same seed: the same result";
}

TEST(MiniBatchExperiment, BadInputIsRefusedBeforeTraining) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto o = options("mb-exp-bad");
  gm::run_experiment(lc_config(), data, o);  // writes OUT/lc-ego8.h5
  auto cfg = lc_config();
  cfg.lc_file = (o.out_dir / "lc-ego8.h5").string();
  cfg.ego_size = 16;
  auto msg = error_of([&] { gm::run_experiment(cfg, data, options("mb-exp-bad-2")); });
  EXPECT_NE(msg.find("ego-graphs of size 8, but ego_size is 16"), std::string::npos) << msg;

  cfg = lc_config();
  cfg.batch_size = 1000;
  msg = error_of([&] { gm::run_experiment(cfg, data, options("mb-exp-bad-3")); });
  EXPECT_NE(msg.find("batch_size 1000 is larger than the"), std::string::npos) << msg;

  auto big = data;
  big.features = data.features.clone();
  big.features[3][5] = 1e6;
  cfg = lc_config();
  cfg.feature_dtype = gm::FeatureDtype::float16;
  msg = error_of([&] { gm::run_experiment(cfg, big, options("mb-exp-bad-4")); });
  EXPECT_NE(msg.find("feature [3, 5] = 1000000"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overflows float16"), std::string::npos) << msg;

  auto other = graphmae2::testing::tiny_dataset(80, 12, 3, 3, /*seed=*/8);  // another graph, same sizes
  cfg = lc_config();
  cfg.lc_file = (o.out_dir / "lc-ego8.h5").string();
  msg = error_of([&] { gm::run_experiment(cfg, other, options("mb-exp-bad-5")); });
  EXPECT_NE(msg.find("computed on another graph"), std::string::npos) << msg;
}

}  // namespace
