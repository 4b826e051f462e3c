// The MoCo v3 trainer end to end on a tiny synthetic IDX set: logs, checkpoint, and a resumed run that ends
// bit-identical to an uninterrupted one.

#include "datasets/idx.h"
#include "fixtures/paths.h"
#include "models/mocov3/config.h"
#include "models/engine/loop.h"
#include "models/mocov3/experiment.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace graphmae2::models::mocov3;
namespace fs = std::filesystem;

namespace {

/// 8x8 images of two classes (a bright 4x4 square top-left or bottom-right) over noise, in MNIST layout.
fs::path make_dataset() {
  // One folder per test: ctest runs the tests of this file as parallel processes.
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto dir = graphmae2::testing::scratch_dir(std::string("m3_data_") + test->name());
  torch::manual_seed(123);
  for (const auto& [split, n] : {std::pair<std::string, int64_t>{"train", 64}, {"t10k", 32}}) {
    auto labels = torch::arange(n) % 2;
    auto images = torch::randint(0, 60, {n, 8, 8});
    for (int64_t i = 0; i < n; ++i) {
      const int64_t o = labels[i].item<int64_t>() == 0 ? 0 : 4;
      images[i].slice(0, o, o + 4).slice(1, o, o + 4).add_(150);
    }
    graphmae2::datasets::write_idx(dir / (split + "-images-idx3-ubyte"), images.to(torch::kUInt8));
    graphmae2::datasets::write_idx(dir / (split + "-labels-idx1-ubyte"), labels.to(torch::kUInt8));
  }
  return dir;
}

MoCoV3Config tiny_config(const fs::path& data) {
  MoCoV3Config c;
  c.dataset = "tiny";
  c.data_root = data.string();
  c.patch_size = 4;
  c.embed_dim = 16;
  c.depth = 2;
  c.num_heads = 2;
  c.moco_dim = 8;
  c.moco_mlp_dim = 16;
  c.max_epoch = 2;
  c.warmup_epochs = 0.5;
  c.batch_size = 16;  // 4 iterations per epoch
  c.lr = 1e-3;
  c.knn_k = 5;
  c.knn_train = 64;
  c.knn_test = 32;
  c.spike_window = 10;
  c.max_epoch_f = 20;
  c.eval_batch = 32;
  c.num_threads = 0;  // leave the test binary's thread setting alone
  return c;
}

std::map<std::string, torch::Tensor> checkpoint_tensors(const fs::path& path, const MoCoV3Config& cfg) {
  MoCoV3 model(cfg.model_options(8, 1));
  torch::serialize::InputArchive archive, model_archive;
  archive.load_from(path.string());
  archive.read("model", model_archive);
  model->load(model_archive);
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model->named_parameters()) out[p.key()] = p.value().clone();
  for (const auto& b : model->named_buffers()) out[b.key()] = b.value().clone();
  return out;
}

RunOptions in(const fs::path& out, bool resume = false) {
  RunOptions o;
  o.out = out;
  o.resume = resume;
  return o;
}

std::vector<std::string> lines_of(const fs::path& path) {
  std::ifstream is(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(is, l);) lines.push_back(l);
  return lines;
}

}  // namespace

TEST(MoCoV3Train, ResumedRunMatchesUninterruptedRun) {
  const auto data = make_dataset();
  const auto cfg = tiny_config(data);

  const auto full_dir = graphmae2::testing::scratch_dir("m3_full");
  const auto full = run_mocov3(cfg, in(full_dir));
  EXPECT_EQ(full.steps, 8);
  EXPECT_GE(full.linear_probe, 0.0);
  EXPECT_LE(full.linear_probe, 1.0);
  EXPECT_GE(full.knn, 0.0);

  // Stop after 3 iterations (mid-epoch), then resume to the end.
  const auto part_dir = graphmae2::testing::scratch_dir("m3_part");
  auto stop = cfg;
  stop.max_steps = 3;
  EXPECT_EQ(run_mocov3(stop, in(part_dir)).steps, 3);
  const auto resumed = run_mocov3(cfg, in(part_dir, /*resume=*/true));
  EXPECT_EQ(resumed.steps, 8);

  const auto a = checkpoint_tensors(full_dir / "checkpoint.pt", cfg);
  const auto b = checkpoint_tensors(part_dir / "checkpoint.pt", cfg);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(torch::equal(t, b.at(name))) << name;
  EXPECT_NEAR(full.linear_probe, resumed.linear_probe, 1e-12);
  for (const auto& entry : fs::directory_iterator(full_dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();  // no temp file left
  }
}

TEST(MoCoV3Train, MetricsLogHasGradientNormsPerIterationAndAFinalLine) {
  const auto data = make_dataset();
  auto cfg = tiny_config(data);
  cfg.max_epoch = 1;
  const auto dir = graphmae2::testing::scratch_dir("m3_log");
  std::vector<std::string> messages;
  auto options = in(dir);
  options.log = [&](graphmae2::models::engine::LogLevel, const std::string& line) { messages.push_back(line); };
  run_mocov3(cfg, options);
  const auto lines = lines_of(dir / "metrics.jsonl");
  int iters = 0, epochs = 0, finals = 0;
  for (const auto& l : lines) {
    if (l.find("\"type\":\"iter\"") != std::string::npos) {
      ++iters;
      EXPECT_NE(l.find("\"patch_embed\":"), std::string::npos) << l;
      EXPECT_NE(l.find("\"block_last\":"), std::string::npos) << l;
      EXPECT_NE(l.find("\"total\":"), std::string::npos) << l;
    }
    epochs += l.find("\"type\":\"epoch\"") != std::string::npos;
    finals += l.find("\"type\":\"final\"") != std::string::npos;
  }
  EXPECT_EQ(iters, 4);
  EXPECT_EQ(epochs, 1);
  EXPECT_EQ(finals, 1);
  EXPECT_TRUE(fs::exists(dir / "result.json"));
  // The saved config reads back as the run's configuration.
  std::ifstream is(dir / "config.yaml");
  std::stringstream text;
  text << is.rdbuf();
  EXPECT_TRUE(differing_keys(cfg, mocov3_config_from_yaml_text(text.str(), "config.yaml"), {}).empty());
  // The run's lines go to the sink: the data, the model, the epoch.
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].rfind("tiny: 64 train / 32 test images of 8x8", 0), 0u) << messages[0];
  EXPECT_EQ(messages[1].rfind("ViT 16d x 2 blocks", 0), 0u) << messages[1];
  EXPECT_EQ(messages[2].rfind("epoch 1/1: loss ", 0), 0u) << messages[2];
}

TEST(MoCoV3Train, ResumeRefusesAnotherConfiguration) {
  const auto data = make_dataset();
  auto cfg = tiny_config(data);
  cfg.max_steps = 1;
  cfg.max_epoch_f = 1;
  const auto dir = graphmae2::testing::scratch_dir("m3_refuse");
  run_mocov3(cfg, in(dir));
  auto other = cfg;
  other.lr = 5e-3;
  try {
    run_mocov3(other, in(dir, true));
    FAIL() << "resumed with another lr";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
  }
  // No checkpoint at all is a clear error too.
  EXPECT_THROW(run_mocov3(cfg, in(graphmae2::testing::scratch_dir("m3_none"), true)), std::runtime_error);
}

TEST(MoCoV3Train, ADivergedRunThrowsTrainingDiverged) {
  // docs/reliability.md: a NaN/inf loss ends the run with engine::TrainingDiverged (the tools exit 3), keeps the
  // last finite checkpoint and probes nothing.
  const auto data = make_dataset();
  auto cfg = tiny_config(data);
  cfg.lr = 1e30;  // AdamW steps of this size send the weights out of range within a few iterations
  cfg.max_epoch = 3;
  const auto dir = graphmae2::testing::scratch_dir("m3_diverged");
  try {
    run_mocov3(cfg, in(dir));
    FAIL() << "a diverged run returned";
  } catch (const graphmae2::models::engine::TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("loss became"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(graphmae2::models::engine::run_diverged(dir));
  EXPECT_FALSE(fs::exists(dir / "result.json"));
}

TEST(MoCoV3Train, AConfigStoredWithTheOldKeyNamesStillResumes) {
  // A checkpoint written before MoCo v3's keys took GraphMAE2's names stores epochs, threads, moco_m_cos, ...:
  // the resume check reads them as the new names and finds the same configuration.
  const auto cfg = tiny_config(make_dataset());
  std::string yaml = cfg.to_yaml();
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"max_epoch: ", "epochs: "},
                                                        {"num_threads: ", "threads: "},
                                                        {"max_epoch_f: ", "probe_epochs: "},
                                                        {"lr_f: ", "probe_lr: "},
                                                        {"weight_decay_f: ", "probe_weight_decay: "},
                                                        {"save_every: ", "checkpoint_every: "},
                                                        {"momentum: ", "moco_m: "},
                                                        {"momentum_schedule: cosine", "moco_m_cos: true"}}) {
    const auto at = yaml.find("\n" + from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at + 1, from.size(), to);
  }
  const auto old = mocov3_config_from_yaml_text(yaml, "the checkpoint's config");
  EXPECT_TRUE(differing_keys(old, cfg, {}).empty());
  EXPECT_EQ(old.notes.size(), 8u);
}
