// Mini-batch runs end to end on a tiny graph: ego-graphs computed and cached, then reused; bad input refused
// before training with the value named (another ego size, batch_size over the seeds, float16 overflow).

#include "datasets/dataset_h5.h"
#include "datasets/ego_graphs_h5.h"
#include "datasets/hdf5_io.h"
#include "models/graphmae2/trainer.h"
#include "models/graphmae2/experiment.h"

#include "fixtures/errors.h"
#include "fixtures/experiment_options.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

namespace gm = graphmae2::models::graphmae2;
using graphmae2::testing::error_of;

namespace {

gm::GraphMAE2Config lc_config() {
  auto cfg = graphmae2::testing::small_graphmae2_config(2);
  cfg.sampler = gm::Sampler::lc;
  cfg.ego_size = 8;
  cfg.batch_size = 16;
  cfg.drop_edge_rate = 0.5;
  return cfg;
}

gm::ExperimentOptions options(const std::string& name) { return graphmae2::testing::quiet_experiment(name); }

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

TEST(MiniBatchExperiment, FeaturesOnDiskTrainExactlyAsInMemory) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  for (const auto dtype : {torch::kFloat32, torch::kFloat16}) {
    const std::string tag = dtype == torch::kFloat16 ? "f16" : "f32";
    auto cfg = lc_config();
    cfg.feature_norm = gm::FeatureNorm::none;
    cfg.feature_dtype = dtype == torch::kFloat16 ? gm::FeatureDtype::float16 : gm::FeatureDtype::float32;
    auto in_memory = options("mb-exp-mem-" + tag);
    const auto memory = gm::run_experiment(cfg, data, in_memory);

    const auto cache = graphmae2::testing::scratch_dir("mb-exp-cache-" + tag) / "tiny.h5";
    graphmae2::datasets::save_dataset_h5(data, cache, dtype);
    cfg.feature_storage = gm::FeatureStorage::disk;
    auto on_disk = options("mb-exp-disk-" + tag);
    on_disk.features = graphmae2::datasets::FeatureStore::open_h5(cache, "features", gm::feature_normalization(cfg));
    const auto disk = gm::run_experiment(cfg, graphmae2::datasets::load_dataset_h5(cache, false), on_disk);

    EXPECT_EQ(memory.seeds[0].probe.test_acc, disk.seeds[0].probe.test_acc) << tag;
    const auto emb_memory =
        graphmae2::datasets::read_h5_tensor(in_memory.out_dir / "embeddings_seed0.h5", "embeddings");
    const auto emb_disk = graphmae2::datasets::read_h5_tensor(on_disk.out_dir / "embeddings_seed0.h5", "embeddings");
    EXPECT_TRUE(torch::equal(emb_memory, emb_disk)) << tag << ": the same rows, the same training";
  }
}

TEST(MiniBatchExperiment, EmbeddingsFileHoldsTheSeedsRowForRow) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto o = options("mb-exp-emb");
  gm::run_experiment(lc_config(), data, o);
  const auto file = o.out_dir / "embeddings_seed0.h5";
  const auto ids = graphmae2::datasets::read_h5_tensor(file, "node_ids");
  const auto emb = graphmae2::datasets::read_h5_tensor(file, "embeddings");
  // lc: every train/valid/test node once, in split order (the tiny dataset puts every node in a split).
  ASSERT_EQ(ids.size(0), 80);
  EXPECT_EQ(emb.sizes(), (std::vector<int64_t>{80, 8}));
  EXPECT_TRUE(torch::equal(ids, torch::arange(80, torch::kLong)));
  EXPECT_TRUE(torch::equal(graphmae2::datasets::read_h5_tensor(file, "labels"), data.labels.index_select(0, ids)));
  EXPECT_TRUE(
      torch::equal(graphmae2::datasets::read_h5_tensor(file, "test_mask"), data.test_mask.index_select(0, ids)));
}

TEST(MiniBatchExperiment, FeaturesOnDiskNeedAMiniBatchSamplerAndTheLinearProbe) {
  auto cfg = lc_config();
  cfg.feature_storage = gm::FeatureStorage::disk;
  cfg.sampler = gm::Sampler::full;
  EXPECT_NE(error_of([&] { cfg.validate(); }).find("feature_storage disk needs a mini-batch sampler"),
            std::string::npos);
  cfg.sampler = gm::Sampler::neighbor;
  cfg.fanouts = {3, 3};
  cfg.linear_prob = false;
  EXPECT_NE(error_of([&] { cfg.validate(); }).find("use sampler lc (fine-tuned on ego-graphs) or linear_prob true"),
            std::string::npos);
  cfg.sampler = gm::Sampler::lc;
  cfg.fanouts.clear();
  EXPECT_NO_THROW(cfg.validate());
}

TEST(MiniBatchExperiment, LcRunsFineTuneOnEgoGraphs) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto cfg = lc_config();
  cfg.linear_prob = false;
  cfg.max_epoch_f = 5;
  cfg.batch_size_f = 16;
  const auto r = gm::run_experiment(cfg, data, options("mb-exp-finetune"));
  EXPECT_EQ(r.protocol, "fine-tune");
  EXPECT_GE(r.seeds[0].probe.best_epoch, 1) << "epoch 0 only steps the warm-up, as the reference";
}

TEST(MiniBatchExperiment, PreTrainingOnlyWritesCheckpointAndMetricsButNoEmbeddings) {
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto o = options("mb-exp-noeval");
  o.evaluate = false;
  auto cfg = lc_config();
  cfg.max_steps = 3;  // stops inside the first epoch (5 steps per epoch)
  const auto r = gm::run_experiment(cfg, data, o);
  EXPECT_EQ(r.protocol, "pre-training");
  EXPECT_TRUE(std::filesystem::exists(o.out_dir / "seed0" / "checkpoint.pt"));
  EXPECT_FALSE(std::filesystem::exists(o.out_dir / "embeddings_seed0.h5"));
  EXPECT_TRUE(std::filesystem::exists(o.out_dir / "result.json"));
}

}  // namespace

TEST(Experiment, ARefusedResumeNamesTheKeysAndChangesNothing) {
  // Issue 14 class 10: the guard decides before OUT/config.yaml is rewritten; keys that do not change the trained
  // model (here the probe's max_epoch_f) may differ.
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto cfg = lc_config();
  cfg.sampler = gm::Sampler::full;
  auto o = options("exp-resume-guard");
  o.seeds = {0, 1};
  gm::run_experiment(cfg, data, o);
  const auto config_file = o.out_dir / "config.yaml";
  std::ifstream before_in(config_file);
  const std::string before((std::istreambuf_iterator<char>(before_in)), std::istreambuf_iterator<char>());
  auto changed = cfg;
  changed.mask_rate = 0.3;
  changed.lr = 0.002;
  auto resumed = o;
  resumed.resume = true;
  const auto msg = error_of([&] { gm::run_experiment(changed, data, resumed); });
  EXPECT_NE(msg.find("seed0/checkpoint.pt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("lr"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mask_rate"), std::string::npos) << msg;
  std::ifstream after_in(config_file);
  const std::string after((std::istreambuf_iterator<char>(after_in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(after, before) << "config.yaml was rewritten by a refused resume";
  auto probe_only = cfg;
  probe_only.max_epoch_f = 7;
  EXPECT_NO_THROW(gm::run_experiment(probe_only, data, resumed));
}

TEST(Experiment, ACacheNormalisedWhenWrittenIsNotNormalisedAgain) {
  // Issue 14 class 8: the cache records its normalisation; training and eval refuse to apply a second one.
  auto data = graphmae2::testing::tiny_dataset(40);
  data.feature_normalization = "standard";
  const auto file = graphmae2::testing::scratch_dir("exp-normalised-cache") / "cache.h5";
  graphmae2::datasets::save_dataset_h5(data, file);
  const auto back = graphmae2::datasets::load_dataset_h5(file);
  EXPECT_EQ(back.feature_normalization, "standard");
  auto cfg = lc_config();
  cfg.sampler = gm::Sampler::full;
  cfg.feature_norm = gm::FeatureNorm::row;
  const auto msg = error_of([&] { gm::run_experiment(cfg, back, options("exp-normalised")); });
  EXPECT_NE(msg.find("already normalised (standard)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--feature_norm none"), std::string::npos) << msg;
  EXPECT_THROW(gm::prepare_inputs(back, cfg), std::invalid_argument);
  cfg.feature_norm = gm::FeatureNorm::none;
  EXPECT_NO_THROW(gm::prepare_inputs(back, cfg));
  // A cache written without normalisation records none.
  data.feature_normalization.clear();
  graphmae2::datasets::save_dataset_h5(data, file);
  EXPECT_EQ(graphmae2::datasets::load_dataset_h5(file).feature_normalization, "");
}

TEST(Experiment, AProbeThatCannotFitIsRefusedBeforePreTraining) {
  // Issue 14 class 4: 1e9 classes used to pass loading and fail in the probe after the whole pre-training.
  auto data = graphmae2::testing::tiny_dataset(40);
  data.num_classes = int64_t{1} << 50;
  auto cfg = lc_config();
  cfg.sampler = gm::Sampler::full;
  auto o = options("exp-probe-memory");
  const auto msg = error_of([&] { gm::run_experiment(cfg, data, o); });
  EXPECT_NE(msg.find("classes: its probe (num_hidden 8 x 1125899906842624"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(o.out_dir / "seed0" / "checkpoint.pt")) << "pre-training ran first";
}

TEST(Experiment, EmbeddingsCarryTheConfigTheirProbeNeeds) {
  // Issue 14 class 8: graphmae2-eval --embeddings used default probe settings, not the ones the run trained with.
  const auto data = graphmae2::testing::tiny_dataset(40);
  auto cfg = lc_config();
  cfg.max_epoch_f = 17;
  cfg.lr_f = 0.0123;
  auto o = options("exp-embeddings-config");
  gm::run_experiment(cfg, data, o);
  const auto stored = gm::embeddings_config(o.out_dir / "embeddings_seed0.h5");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->max_epoch_f, 17);
  EXPECT_DOUBLE_EQ(stored->lr_f, 0.0123);
  EXPECT_EQ(stored->sampler, gm::Sampler::lc) << "mini-batch probing follows the sampler";
  EXPECT_EQ(stored->dataset, "tiny");
  EXPECT_EQ(stored->probe_options(3).batch_size, cfg.probe_options(3).batch_size);
  // A file without the attribute: no config.
  graphmae2::datasets::write_h5(o.out_dir / "bare.h5", {{"embeddings", torch::zeros({2, 2})}}, {});
  EXPECT_FALSE(gm::embeddings_config(o.out_dir / "bare.h5").has_value());
}

TEST(Experiment, ACheckpointIsProbedAsItsRunProbedIt) {
  // graphmae2-eval --checkpoint embedded every run on the whole graph: an lc run's probe reads each seed's
  // embedding in its own ego-graph, so eval measured something else. probe_checkpoint repeats the run's probe.
  const auto data = graphmae2::testing::tiny_dataset(80);
  auto full = lc_config();
  full.sampler = gm::Sampler::full;
  auto lc_finetune = lc_config();
  lc_finetune.linear_prob = false;
  for (const auto& [name, cfg] : std::vector<std::pair<std::string, gm::GraphMAE2Config>>{
           {"lc", lc_config()}, {"full", full}, {"lc-finetune", lc_finetune}}) {
    SCOPED_TRACE(name);
    auto o = options("exp-probe-checkpoint-" + name);
    o.seeds = {0, 1};
    const auto trained = gm::run_experiment(cfg, data, o);
    for (const int64_t seed : {0, 1}) {
      const auto checkpoint = o.out_dir / ("seed" + std::to_string(seed)) / "checkpoint.pt";
      std::vector<int64_t> epochs_seen;
      const auto again = gm::probe_checkpoint(cfg, data, checkpoint, {seed}, o,
                                              [&](int64_t, int64_t epoch) { epochs_seen.push_back(epoch); });
      ASSERT_EQ(again.size(), 1u);
      const auto& ran = trained.seeds[static_cast<size_t>(seed)].probe;
      EXPECT_EQ(again[0].test_acc, ran.test_acc);
      EXPECT_EQ(again[0].best_val_acc, ran.best_val_acc);
      EXPECT_EQ(again[0].best_epoch, ran.best_epoch);
      // Every epoch is reported (the ego-graph fine-tune stops early after 10 epochs without progress).
      if (cfg.linear_prob) EXPECT_EQ(static_cast<int64_t>(epochs_seen.size()), cfg.max_epoch_f);
      EXPECT_FALSE(epochs_seen.empty());
    }
  }
}
