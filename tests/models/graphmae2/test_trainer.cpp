// Trainer: CPU runs repeat bit for bit, checkpoints round-trip, --resume continues identically, NaN stops.

#include "models/eval/finetune.h"
#include "models/eval/linear_probe.h"
#include "models/engine/checkpoint.h"
#include "models/graphmae2/trainer.h"
#include "graph/sampling/local_clustering.h"
#include "graph/transforms.h"

#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

namespace gm = graphmae2::models::graphmae2;
namespace engine = graphmae2::models::engine;

namespace {

gm::GraphMAE2Config tiny_config() {
  gm::GraphMAE2Config cfg;
  cfg.num_hidden = 8;
  cfg.num_heads = 2;
  cfg.max_epoch = 6;
  cfg.lr = 0.01;
  cfg.scheduler = true;
  cfg.remask_method = gm::RemaskMethod::random;
  cfg.dataset = "tiny";
  cfg.num_remasking = 2;
  cfg.momentum = 0.5;
  return cfg;
}

/// Options of a run without a progress bar, writing to a fresh scratch directory when one is named.
gm::TrainerOptions quiet_options(const std::string& dir = "") {
  gm::TrainerOptions o;
  o.progress = false;
  if (!dir.empty()) o.seed_dir = graphmae2::testing::scratch_dir(dir);
  return o;
}

std::map<std::string, torch::Tensor> state(gm::TrainResult& r) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : r.model->named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

void expect_same_state(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
}

/// Seed 5 stopped by an exception at epoch 4, then resumed from its last checkpoint; leaves `o` resuming.
gm::TrainResult interrupted_then_resumed(const gm::GraphMAE2Config& cfg, const gm::PreparedGraph& input,
                                         gm::TrainerOptions& o, const std::string& dir) {
  o.seed_dir = graphmae2::testing::scratch_dir(dir);
  o.on_epoch = [](int64_t epoch, std::map<std::string, double>&) {
    if (epoch == 4) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(gm::train_graphmae2(cfg, input, 5, o), std::runtime_error);
  o.on_epoch = nullptr;
  o.resume = true;
  return gm::train_graphmae2(cfg, input, 5, o);
}

TEST(Trainer, SameSeedSameModelBitForBit) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  auto input = gm::prepare_inputs(data, cfg);
  auto o = quiet_options("trainer-a");
  auto a = gm::train_graphmae2(cfg, input, 11, o);
  o.seed_dir = graphmae2::testing::scratch_dir("trainer-b");
  auto b = gm::train_graphmae2(cfg, input, 11, o);
  expect_same_state(state(a), state(b));
  o.seed_dir = graphmae2::testing::scratch_dir("trainer-c");
  auto c = gm::train_graphmae2(cfg, input, 12, o);
  EXPECT_FALSE(torch::equal(state(a).at("encoder.layers.0.fc.weight"), state(c).at("encoder.layers.0.fc.weight")));
  EXPECT_EQ(a.epochs_run, 6);
  EXPECT_TRUE(std::filesystem::exists(o.seed_dir / "checkpoint.pt"));
  EXPECT_TRUE(std::filesystem::exists(o.seed_dir / "metrics.jsonl"));
}

TEST(Trainer, MatmulPrecisionHoldsDuringTrainingOnlyAndHighestChangesNothing) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  cfg.max_epoch = 2;
  auto input = gm::prepare_inputs(data, cfg);
  auto o = quiet_options("trainer-precision-default");
  auto by_default = gm::train_graphmae2(cfg, input, 3, o);
  cfg.matmul_precision = gm::MatmulPrecision::highest;
  o.seed_dir = graphmae2::testing::scratch_dir("trainer-precision-highest");
  auto highest = gm::train_graphmae2(cfg, input, 3, o);
  expect_same_state(state(by_default), state(highest));
  // Under medium each epoch sees it; afterwards the caller's setting is back.
  cfg.matmul_precision = gm::MatmulPrecision::medium;
  const auto initial = at::globalContext().float32MatmulPrecision();
  std::vector<at::Float32MatmulPrecision> seen;
  o.on_epoch = [&](int64_t, std::map<std::string, double>&) {
    seen.push_back(at::globalContext().float32MatmulPrecision());
  };
  o.seed_dir = graphmae2::testing::scratch_dir("trainer-precision-medium");
  auto medium = gm::train_graphmae2(cfg, input, 3, o);
  EXPECT_EQ(seen, std::vector<at::Float32MatmulPrecision>(2, at::Float32MatmulPrecision::MEDIUM));
  EXPECT_EQ(at::globalContext().float32MatmulPrecision(), initial);
  EXPECT_TRUE(std::isfinite(medium.last.at("loss")));
}

TEST(Trainer, ResumeContinuesIdentically) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  cfg.save_every = 3;
  auto input = gm::prepare_inputs(data, cfg);
  auto o = quiet_options("resume-straight");
  auto straight = gm::train_graphmae2(cfg, input, 5, o);

  auto resumed = interrupted_then_resumed(cfg, input, o, "resume-interrupted");
  EXPECT_EQ(resumed.epochs_run, 3);  // epochs 3, 4, 5 after the checkpoint at 3
  expect_same_state(state(straight), state(resumed));

  // A different config refuses to resume from that checkpoint, naming the key; keys that do not change
  // pre-training (the probe's, threads, cadence) may differ.
  auto other = cfg;
  other.lr = 0.02;
  try {
    gm::train_graphmae2(other, input, 5, o);
    FAIL() << "resumed with another lr";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("lr"), std::string::npos) << e.what();
  }
  other = cfg;
  other.dataset = "another";
  EXPECT_THROW(gm::train_graphmae2(other, input, 5, o), std::invalid_argument);
  other = cfg;
  other.max_epoch_f = 3;
  other.num_threads = 1;
  EXPECT_EQ(gm::train_graphmae2(other, input, 5, o).epochs_run, 0);
}

TEST(Trainer, MiniBatchRunResumedMidEpochContinuesBitForBit) {
  auto data = graphmae2::testing::tiny_dataset(120);
  auto cfg = tiny_config();
  cfg.sampler = gm::Sampler::lc;
  cfg.batch_size = 16;
  cfg.drop_edge_rate = 0.3;
  cfg.loader_workers = 2;
  auto input = gm::prepare_inputs(data, cfg);
  graphmae2::graph::sampling::LocalClusteringOptions lc;
  lc.ego_size = 8;
  const auto egos = graphmae2::graph::sampling::local_clustering(
      graphmae2::graph::bidirected_with_self_loops(data.graph), torch::arange(50, torch::kLong), lc);
  gm::BatchSourceOptions bo;
  bo.batch_size = cfg.batch_size;
  bo.drop_edge_rate = cfg.drop_edge_rate;
  const gm::BatchSource batches(input.graph, graphmae2::datasets::FeatureStore(input.features), egos, bo, 5);
  ASSERT_EQ(batches.steps_per_epoch(), 4);
  auto o = quiet_options();
  o.batches = &batches;
  o.seed_dir = graphmae2::testing::scratch_dir("minibatch-straight");
  auto straight = gm::train_graphmae2(cfg, input, 5, o);
  EXPECT_EQ(straight.epochs_run, 6);

  o.seed_dir = graphmae2::testing::scratch_dir("minibatch-resumed");
  o.max_steps = 10;  // stops inside epoch 2
  gm::train_graphmae2(cfg, input, 5, o);
  o.max_steps = 0;
  o.resume = true;
  cfg.loader_workers = 0;  // the loader's threads never change a batch
  auto resumed = gm::train_graphmae2(cfg, input, 5, o);
  expect_same_state(state(straight), state(resumed));
  std::ifstream a(graphmae2::testing::scratch_dir("unused").parent_path() / "minibatch-straight" / "metrics.jsonl");
  std::ifstream b(o.seed_dir / "metrics.jsonl");
  std::vector<double> la, lb;
  for (std::string line; std::getline(a, line);) la.push_back(engine::Json::parse(line).at("loss").get<double>());
  for (std::string line; std::getline(b, line);) lb.push_back(engine::Json::parse(line).at("loss").get<double>());
  EXPECT_EQ(la, lb) << "each epoch logged once, with the same loss";
}

TEST(Trainer, MetricsOfAResumedRunHaveEachEpochOnce) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  cfg.save_every = 3;
  auto input = gm::prepare_inputs(data, cfg);
  auto o = quiet_options();
  interrupted_then_resumed(cfg, input, o, "resume-metrics");
  std::ifstream in(o.seed_dir / "metrics.jsonl");
  std::vector<int64_t> epochs;
  for (std::string line; std::getline(in, line);)
    epochs.push_back(engine::Json::parse(line).at("epoch").get<int64_t>());
  EXPECT_EQ(epochs, (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(Trainer, CheckpointsOfTheFormerFormatAreRefusedWithTheReason) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  auto model = gm::build_model(cfg, data.feature_dim());
  // What the trainer wrote before the engine: weights, "epoch" and "config", no format entry.
  torch::serialize::OutputArchive archive, weights;
  model->save(weights);
  archive.write("model", weights);
  archive.write("epoch", torch::tensor(int64_t{6}));
  archive.write("config", c10::IValue(std::string("lr: 0.01\nfeature_norm: auto\n")));
  const auto old = graphmae2::testing::scratch_dir("old-format") / "checkpoint.pt";
  archive.save_to(old.string());
  try {
    engine::load_checkpoint(old, "graphmae2", *model, nullptr);
    FAIL() << "loaded a format-1 checkpoint";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("format 1"), std::string::npos) << e.what();
  }
  // Another model's checkpoint is refused too.
  auto o = quiet_options("model-name");
  gm::train_graphmae2(cfg, gm::prepare_inputs(data, cfg), 1, o);
  EXPECT_THROW(engine::read_checkpoint_state(o.seed_dir / "checkpoint.pt", "mocov3"), std::runtime_error);
}

TEST(Trainer, CheckpointRoundTrip) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  auto input = gm::prepare_inputs(data, cfg);
  auto o = quiet_options("roundtrip");
  auto r = gm::train_graphmae2(cfg, input, 3, o);
  auto fresh = gm::build_model(cfg, data.feature_dim());
  auto meta = engine::load_checkpoint(o.seed_dir / "checkpoint.pt", "graphmae2", *fresh, nullptr);
  EXPECT_EQ(meta.step, cfg.max_epoch);
  EXPECT_EQ(meta.dataset, "tiny");
  EXPECT_EQ(meta.model, "graphmae2");
  EXPECT_EQ(meta.config_yaml, cfg.to_yaml());
  auto trained = r.model->named_parameters();
  for (const auto& item : fresh->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), trained[item.key()])) << item.key();
  for (const auto& item : fresh->named_buffers())
    EXPECT_TRUE(torch::equal(item.value(), r.model->named_buffers()[item.key()]));
  EXPECT_TRUE(torch::equal(gm::embed(fresh, input), gm::embed(r.model, input)));
  // A truncated checkpoint is a clear error naming the file.
  auto bad = o.seed_dir / "broken.pt";
  std::filesystem::copy_file(o.seed_dir / "checkpoint.pt", bad);
  std::filesystem::resize_file(bad, 100);
  try {
    engine::load_checkpoint(bad, "graphmae2", *fresh, nullptr);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.pt"), std::string::npos);
  }
}

TEST(Trainer, NonFiniteLossStopsWithAClearMessage) {
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  auto input = gm::prepare_inputs(data, cfg);
  input.features = input.features.clone();
  input.features[0][0] = std::numeric_limits<float>::quiet_NaN();
  auto o = quiet_options("nan");
  try {
    gm::train_graphmae2(cfg, input, 0, o);
    FAIL() << "expected TrainingDiverged";
  } catch (const engine::TrainingDiverged& e) {
    EXPECT_NE(std::string(e.what()).find("step 0 (epoch 0)"), std::string::npos) << e.what();
  }
}

TEST(Trainer, PrepareInputsAddsExactlyOneSelfLoopAndRowNormalises) {
  auto data = graphmae2::testing::tiny_dataset();
  gm::GraphMAE2Config cfg;
  cfg.feature_norm = gm::FeatureNorm::row;
  cfg.symmetrize = false;  // the tiny graph is symmetric already, with repeated edges this must keep
  auto input = gm::prepare_inputs(data, cfg);
  auto rows = input.graph.row_ids();
  EXPECT_EQ((rows == input.graph.indices).sum().item<int64_t>(), data.num_nodes());
  EXPECT_EQ(input.graph.num_edges(), data.graph.num_edges() + data.num_nodes());
  EXPECT_TRUE(torch::allclose(input.features.sum(1), torch::ones({data.num_nodes()}), 1e-5, 1e-6));
}

TEST(LinearProbe, MiniBatchesFollowAPlainShuffledLoop) {
  namespace ev = graphmae2::models::eval;
  torch::manual_seed(3);
  const auto labels = torch::randint(4, {200}, torch::kInt64);
  const auto emb = torch::nn::functional::one_hot(labels, 4).to(torch::kFloat32) + 1.5 * torch::randn({200, 4});
  const auto idx = torch::arange(200);
  const auto train = idx < 120, val = (idx >= 120).logical_and(idx < 160), test = idx >= 160;
  ev::ProbeOptions o{0.05, 1e-4, 15, 11, 32};
  const auto got = ev::linear_probe(emb, labels, 4, train, val, test, o);

  // The same protocol written out: Adam over shuffled batches of 32 train rows each epoch, the last epoch whose
  // validation accuracy is >= the best kept.
  torch::manual_seed(11);
  torch::nn::Linear head(4, 4);
  torch::optim::Adam opt(head->parameters(), torch::optim::AdamOptions(0.05).weight_decay(1e-4));
  const auto x_train = emb.narrow(0, 0, 120), y_train = labels.narrow(0, 0, 120);
  ev::ProbeResult want;
  for (int64_t epoch = 0; epoch < 15; ++epoch) {
    const auto order = torch::randperm(120, torch::kLong);
    for (int64_t b = 0; b < 120; b += 32) {
      const auto rows = order.narrow(0, b, std::min<int64_t>(32, 120 - b));
      auto loss =
          torch::nn::functional::cross_entropy(head(x_train.index_select(0, rows)), y_train.index_select(0, rows));
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    torch::NoGradGuard no_grad;
    const auto logits = head(emb);
    want.observe(epoch, ev::accuracy(logits, labels, val), ev::accuracy(logits, labels, test));
  }
  EXPECT_EQ(got.best_epoch, want.best_epoch);
  EXPECT_DOUBLE_EQ(got.best_val_acc, want.best_val_acc);
  EXPECT_DOUBLE_EQ(got.test_acc, want.test_acc);
  EXPECT_DOUBLE_EQ(got.final_test_acc, want.final_test_acc);

  // A batch at least the train set's size is the full-batch probe.
  o.batch_size = 0;
  const auto full = ev::linear_probe(emb, labels, 4, train, val, test, o);
  o.batch_size = 120;
  const auto whole = ev::linear_probe(emb, labels, 4, train, val, test, o);
  EXPECT_EQ(full.best_epoch, whole.best_epoch);
  EXPECT_DOUBLE_EQ(full.final_test_acc, whole.final_test_acc);
}

TEST(LinearProbe, SeparableEmbeddingsAreClassifiedAndMatchHandCount) {
  auto labels = torch::arange(90, torch::kInt64) % 3;
  auto emb = torch::nn::functional::one_hot(labels, 3).to(torch::kFloat32) * 5 + 0.01 * torch::randn({90, 3});
  auto idx = torch::arange(90);
  auto r = graphmae2::models::eval::linear_probe(emb, labels, 3, idx < 30, (idx >= 30).logical_and(idx < 60), idx >= 60,
                                                 {0.1, 0.0, 100, 0});
  EXPECT_DOUBLE_EQ(r.test_acc, 1.0);
  EXPECT_DOUBLE_EQ(r.best_val_acc, 1.0);
  // accuracy() against a hand count: 2 of 3 selected rows right.
  auto logits = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 0.0}, {0.0, 1.0}});
  auto y = torch::tensor({0, 0, 0, 1}, torch::kInt64);
  auto mask = torch::tensor({true, true, false, true});
  EXPECT_NEAR(graphmae2::models::eval::accuracy(logits, y, mask), 2.0 / 3.0, 1e-12);
}

}  // namespace

namespace {

TEST(LinearProbe, KeepsTheLastEpochWithTheBestValidationAccuracy) {
  graphmae2::models::eval::ProbeResult r;
  r.observe(0, 0.5, 0.40);
  r.observe(1, 0.7, 0.60);
  r.observe(2, 0.6, 0.90);
  r.observe(3, 0.7, 0.65);  // ties the best: the later epoch wins, as in the reference
  EXPECT_EQ(r.best_epoch, 3);
  EXPECT_DOUBLE_EQ(r.test_acc, 0.65);
  EXPECT_DOUBLE_EQ(r.best_val_acc, 0.7);
  r.observe(4, 0.2, 0.10);
  EXPECT_DOUBLE_EQ(r.final_test_acc, 0.10);
  EXPECT_DOUBLE_EQ(r.test_acc, 0.65);
}

TEST(Finetune, LearnsTheTinyDatasetAndLeavesThePretrainedEncoderUntouched) {
  auto data = graphmae2::testing::tiny_dataset(90, 12, 3, 3, 4);
  auto cfg = tiny_config();
  auto input = gm::prepare_inputs(data, cfg);
  // Chance is 1/3; the random graph mixes classes, so a trained model sits well above chance, not at 100%. One
  // seed's 27 test nodes scatter by about 0.07 (0.48-0.70 over 12 seeds), so the claim is on the mean of 4 seeds:
  // about 0.56 with the seeds here, 3 standard errors above 0.45 and as many below it to chance.
  double mean_acc = 0;
  for (int seed = 0; seed < 4; ++seed) {
    torch::manual_seed(seed);
    auto model = gm::build_model(cfg, data.feature_dim());
    auto before = model->encoder->parameters()[0].clone();
    auto r = graphmae2::models::eval::finetune(model->encoder, input.graph, input.features, data.labels, 3,
                                               data.train_mask, data.val_mask, data.test_mask, {0.01, 0.0, 60, 0});
    mean_acc += r.test_acc / 4;
    EXPECT_TRUE(torch::equal(model->encoder->parameters()[0], before)) << "seed " << seed;
  }
  EXPECT_GT(mean_acc, 0.45);
}

}  // namespace

// CUDA: the same model and masks give the CPU's losses and gradients; a run resumed on the GPU stays there and
// continues where the straight run went (up to the last bits: torch's CUDA index_add backward uses atomics).
TEST(TrainerCuda, ForwardAndGradientsMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  cfg.in_drop = 0;
  cfg.attn_drop = 0;
  const auto input = gm::prepare_inputs(data, cfg);
  const torch::Device gpu(torch::kCUDA, 0);
  const auto gpu_input = input.to(gpu);
  torch::manual_seed(3);
  auto cpu_model = gm::build_model(cfg, data.feature_dim());
  torch::manual_seed(3);
  auto gpu_model = gm::build_model(cfg, data.feature_dim());
  gpu_model->to(gpu);

  const int64_t n = data.num_nodes();
  gm::MaskPlan plan;
  plan.mask_nodes = gm::random_subset(n, cfg.mask_rate, torch::kCPU);
  for (int v = 0; v < 2; ++v) plan.remask_nodes.push_back(gm::random_subset(n, cfg.remask_rate, torch::kCPU));
  gm::MaskPlan gpu_plan;
  gpu_plan.mask_nodes = plan.mask_nodes.to(gpu);
  for (const auto& r : plan.remask_nodes) gpu_plan.remask_nodes.push_back(r.to(gpu));
  auto loss_cfg = cfg.loss_options();
  loss_cfg.lam = 1.0;

  auto cpu_losses = cpu_model->forward(input.full_batch(), plan, loss_cfg);
  auto gpu_losses = gpu_model->forward(gpu_input.full_batch(), gpu_plan, loss_cfg);
  EXPECT_NEAR(cpu_losses.total.item<double>(), gpu_losses.total.item<double>(), 1e-5);
  EXPECT_NEAR(cpu_losses.latent.item<double>(), gpu_losses.latent.item<double>(), 1e-5);
  cpu_losses.total.backward();
  gpu_losses.total.backward();
  auto gpu_params = gpu_model->named_parameters();
  for (const auto& item : cpu_model->named_parameters()) {
    const auto& g_cpu = item.value().grad();
    const auto& g_gpu = gpu_params[item.key()].grad();
    ASSERT_EQ(g_cpu.defined(), g_gpu.defined()) << item.key();
    if (g_cpu.defined()) EXPECT_TRUE(torch::allclose(g_cpu, g_gpu.cpu(), 1e-4, 1e-6)) << item.key();
  }
}

TEST(TrainerCuda, ResumeStaysOnTheGpuAndContinuesTheRun) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  auto data = graphmae2::testing::tiny_dataset();
  auto cfg = tiny_config();
  cfg.save_every = 3;
  const torch::Device gpu(torch::kCUDA, 0);
  const auto input = gm::prepare_inputs(data, cfg).to(gpu);
  auto o = quiet_options();
  o.device = gpu;
  o.seed_dir = graphmae2::testing::scratch_dir("cuda-resume-straight");
  auto straight = gm::train_graphmae2(cfg, input, 5, o);
  auto resumed = interrupted_then_resumed(cfg, input, o, "cuda-resume-interrupted");
  EXPECT_EQ(resumed.epochs_run, 3);
  auto a = state(straight), b = state(resumed);
  for (const auto& [k, v] : a) {
    EXPECT_TRUE(b.at(k).is_cuda()) << k;
    EXPECT_TRUE(torch::allclose(v, b.at(k), 1e-4, 1e-6)) << k;
  }
  // Inputs left on the CPU are refused, not silently copied every step.
  o.resume = false;
  EXPECT_THROW(gm::train_graphmae2(cfg, gm::prepare_inputs(data, cfg), 5, o), c10::Error);
}

TEST(TrainResult, SpanNamesStepsWhenARunStopsInsideAnEpoch) {
  gm::TrainResult r;
  r.seconds = 358.62;
  r.steps_run = 300;
  r.steps_per_epoch = 4784;
  r.epochs_run = 1;
  EXPECT_EQ(r.span(), "358.6 s for 300 steps (0.06 epochs)");
  r.steps_run = 800;
  r.steps_per_epoch = 4;
  r.epochs_run = 200;
  EXPECT_EQ(r.span(), "358.6 s for 200 epochs");
  r.steps_run = r.epochs_run = r.steps_per_epoch = 1;
  EXPECT_EQ(r.span(), "358.6 s for 1 epoch");
}

TEST(LinearProbe, NonFiniteEmbeddingsAreRefusedNotProbed) {
  // Issue 14 class 8: NaN embeddings (a diverged encoder) are named, not turned into an accuracy.
  auto labels = torch::arange(30, torch::kInt64) % 3;
  auto emb = torch::randn({30, 4});
  emb[12][3] = std::numeric_limits<float>::quiet_NaN();
  const auto idx = torch::arange(30);
  try {
    graphmae2::models::eval::linear_probe(emb, labels, 3, idx < 20, (idx >= 20).logical_and(idx < 25), idx >= 25,
                                          graphmae2::models::eval::ProbeOptions{});
    ADD_FAILURE() << "NaN embeddings were probed";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("1 NaN or infinite values (first at node row 12, column 3)"), std::string::npos) << msg;
  }
}
