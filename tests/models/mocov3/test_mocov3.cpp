// MoCo v3: the momentum and learning-rate schedules, the heads, the momentum encoder's EMA, the frozen patch
// projection through a real optimizer step, and the configuration rules.

#include "fixtures/errors.h"
#include "models/mocov3/config.h"
#include "models/mocov3/mocov3.h"
#include "models/engine/loop.h"
#include "models/ssl/ema.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>

using namespace graphmae2::models;
using namespace graphmae2::models::mocov3;

using graphmae2::testing::error_of;

namespace {

MoCoV3Options tiny_moco(bool frozen = false) {
  return MoCoV3Options()
      .backbone(vit::VisionTransformerOptions()
                    .image_size(8)
                    .patch_size(4)
                    .in_channels(1)
                    .embed_dim(16)
                    .depth(2)
                    .num_heads(2)
                    .frozen_patch_proj(frozen))
      .dim(8)
      .mlp_dim(32)
      .temperature(0.2);
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& text) {
  const auto path = graphmae2::testing::scratch_dir(dir) / name;
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST(MoCoV3Schedule, CosineMomentumValues) {
  // m(step) = 1 - (1 - m0) (cos(pi step / total) + 1) / 2 with m0 = 0.99.
  EXPECT_DOUBLE_EQ(ssl::cosine_momentum(0.99, 0, 100), 0.99);
  EXPECT_NEAR(ssl::cosine_momentum(0.99, 50, 100), 0.995, 1e-12);
  EXPECT_NEAR(ssl::cosine_momentum(0.99, 25, 100), 1.0 - 0.01 * (std::cos(M_PI / 4) + 1) / 2, 1e-12);
  EXPECT_NEAR(ssl::cosine_momentum(0.99, 25, 100), 0.9914644660940673, 1e-12);
  EXPECT_DOUBLE_EQ(ssl::cosine_momentum(0.99, 100, 100), 1.0);
  // Monotone non-decreasing.
  double prev = 0;
  for (int s = 0; s <= 100; ++s) {
    const double m = ssl::cosine_momentum(0.99, s, 100);
    EXPECT_GE(m, prev);
    prev = m;
  }
}

TEST(MoCoV3Schedule, WarmupThenHalfCosine) {
  EXPECT_DOUBLE_EQ(graphmae2::models::engine::warmup_cosine(1e-3, 0.0, 2.0, 10), 0.0);
  EXPECT_DOUBLE_EQ(graphmae2::models::engine::warmup_cosine(1e-3, 1.0, 2.0, 10), 0.5e-3);
  EXPECT_DOUBLE_EQ(graphmae2::models::engine::warmup_cosine(1e-3, 2.0, 2.0, 10), 1e-3);
  // half-way through the cosine
  EXPECT_NEAR(graphmae2::models::engine::warmup_cosine(1e-3, 6.0, 2.0, 10), 0.5e-3, 1e-15);
  EXPECT_NEAR(graphmae2::models::engine::warmup_cosine(1e-3, 10.0, 2.0, 10), 0.0, 1e-15);
  EXPECT_NEAR(graphmae2::models::engine::warmup_cosine(1e-3, 4.0, 2.0, 10), 1e-3 * 0.5 * (1 + std::cos(M_PI / 4)),
              1e-15);
}

TEST(MoCoV3, HeadsFollowTheReference) {
  auto projector = build_mlp(3, 16, 32, 8, true);
  ASSERT_EQ(projector->size(), 8u);  // (Linear, BN, ReLU) x 2, Linear, BN
  auto* last_bn = projector[7]->as<torch::nn::BatchNorm1d>();
  ASSERT_NE(last_bn, nullptr);
  EXPECT_FALSE(last_bn->options.affine());
  for (size_t i : {0u, 3u, 6u}) {
    auto* linear = projector[i]->as<torch::nn::Linear>();
    ASSERT_NE(linear, nullptr) << i;
    EXPECT_FALSE(linear->bias.defined()) << i;
  }
  EXPECT_EQ(build_mlp(2, 8, 32, 8, false)->size(), 4u);
}

TEST(MoCoV3, MomentumEncoderStartsEqualFrozenAndFollowsByEma) {
  torch::manual_seed(0);
  MoCoV3 model(tiny_moco());
  auto base = model->base_encoder->named_parameters();
  auto mom = model->momentum_encoder->named_parameters();
  ASSERT_EQ(base.size(), mom.size());
  for (const auto& item : base) {
    EXPECT_TRUE(torch::equal(item.value(), mom[item.key()])) << item.key();
    EXPECT_FALSE(mom[item.key()].requires_grad()) << item.key();
  }
  // The optimizer sees base encoder + predictor only.
  int64_t expected = 0;
  for (const auto& p : model->base_encoder->parameters()) expected += p.requires_grad();
  expected += static_cast<int64_t>(model->predictor->parameters().size());
  EXPECT_EQ(static_cast<int64_t>(model->trainable_parameters().size()), expected);

  torch::optim::AdamW opt(model->trainable_parameters(), torch::optim::AdamWOptions(1e-2));
  const auto x1 = torch::randn({6, 1, 8, 8}), x2 = torch::randn({6, 1, 8, 8});
  auto loss = model->forward(x1, x2);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_GT(loss.item<double>(), 0.0);
  opt.zero_grad();
  loss.backward();
  for (const auto& p : model->momentum_encoder->parameters()) EXPECT_FALSE(p.grad().defined());
  opt.step();
  const auto& name = "backbone.blocks.1.fc1.weight";
  const auto teacher_before = mom[name].clone();
  const auto student_now = base[name].clone();
  ASSERT_FALSE(torch::equal(teacher_before, student_now));
  model->update_momentum_encoder(0.9);
  EXPECT_TRUE(torch::allclose(mom[name], 0.9 * teacher_before + 0.1 * student_now, 1e-6, 1e-7));
}

TEST(MoCoV3, FrozenPatchProjectionUnchangedAfterTraining) {
  torch::manual_seed(1);
  MoCoV3 model(tiny_moco(/*frozen=*/true));
  const auto w0 = model->base_encoder->backbone->patch_embed->weight.clone();
  const auto qkv0 = model->base_encoder->backbone->blocks[0]->as<vit::BlockImpl>()->attn->qkv->weight.clone();
  torch::optim::AdamW opt(model->trainable_parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
  for (int i = 0; i < 2; ++i) {
    auto loss = model->forward(torch::randn({6, 1, 8, 8}), torch::randn({6, 1, 8, 8}));
    opt.zero_grad();
    loss.backward();
    opt.step();
    model->update_momentum_encoder(0.5);
  }
  EXPECT_TRUE(torch::equal(model->base_encoder->backbone->patch_embed->weight, w0));
  EXPECT_TRUE(torch::equal(model->momentum_encoder->backbone->patch_embed->weight, w0));
  EXPECT_FALSE(torch::equal(model->base_encoder->backbone->blocks[0]->as<vit::BlockImpl>()->attn->qkv->weight, qkv0));
}

TEST(MoCoV3Config, FileAndFlagsWithPrecedence) {
  const auto path = write_file("m3cfg_ok", "c.yaml", "max_epoch: 7\nlr: 0.002\nstop_grad_conv1: true\npooling: avg\n");
  MoCoV3Config cfg;
  const auto set = apply_mocov3_config_file(cfg, path);
  EXPECT_EQ(set.size(), 4u);
  EXPECT_EQ(cfg.max_epoch, 7);
  EXPECT_DOUBLE_EQ(cfg.lr, 0.002);
  EXPECT_TRUE(cfg.stop_grad_conv1);
  apply_mocov3_overrides(cfg, {{"max_epoch", "3"}, {"stop_grad_conv1", "false"}});
  EXPECT_EQ(cfg.max_epoch, 3);
  EXPECT_FALSE(cfg.stop_grad_conv1);
  EXPECT_EQ(cfg.pooling, vit::PoolingKind::kAverage);
  EXPECT_TRUE(cfg.notes.empty());
  cfg.validate();
  // The resolved YAML reads back to the same configuration.
  const auto back = mocov3_config_from_yaml_text(cfg.to_yaml(), "resolved");
  EXPECT_TRUE(differing_keys(cfg, back, {}).empty());
  back.model_options(28, 1);
}

TEST(MoCoV3Config, OldKeyNamesStillWorkWithADeprecationNote) {
  MoCoV3Config cfg;
  const auto set = apply_mocov3_config_file(
      cfg, write_file("m3cfg_old", "c.yaml", "epochs: 7\nprobe_lr: 0.5\nmoco_m: 0.9\nmoco_m_cos: false\n"));
  EXPECT_EQ(set, (std::vector<std::string>{"max_epoch", "lr_f", "momentum", "momentum_schedule"}));
  EXPECT_EQ(cfg.max_epoch, 7);
  EXPECT_DOUBLE_EQ(cfg.lr_f, 0.5);
  EXPECT_DOUBLE_EQ(cfg.momentum, 0.9);
  EXPECT_EQ(cfg.momentum_schedule, MomentumSchedule::constant);
  ASSERT_EQ(cfg.notes.size(), 4u);
  EXPECT_NE(cfg.notes[0].find("c.yaml:1: key 'epochs' is deprecated: it is now 'max_epoch'"), std::string::npos)
      << cfg.notes[0];
  // Flags too, under the same checks: a key given under both names is given twice.
  apply_mocov3_overrides(cfg, {{"threads", "2"}, {"checkpoint_every", "5"}, {"probe_epochs", "9"}});
  EXPECT_EQ(cfg.num_threads, 2);
  EXPECT_EQ(cfg.save_every, 5);
  EXPECT_EQ(cfg.max_epoch_f, 9);
  EXPECT_EQ(cfg.key_origins.at("num_threads"), "command line --threads");
  auto msg = error_of([&] { apply_mocov3_overrides(cfg, {{"epochs", "1"}, {"max_epoch", "2"}}); });
  EXPECT_NE(msg.find("given twice"), std::string::npos) << msg;
  msg =
      error_of([&] { apply_mocov3_config_file(cfg, write_file("m3cfg_both", "c.yaml", "max_epoch: 1\nepochs: 2\n")); });
  EXPECT_NE(msg.find("c.yaml:2: key 'epochs' is set twice in the file (as 'max_epoch')"), std::string::npos) << msg;
  msg = error_of([&] { apply_mocov3_overrides(cfg, {{"moco_m_cos", "maybe"}}); });
  EXPECT_NE(msg.find("'moco_m_cos' expects true or false, got 'maybe'"), std::string::npos) << msg;
  // The command line knows every name, the bool ones as bare flags; the key list has only the new names.
  const auto& flags = mocov3_flag_names();
  EXPECT_NE(std::find(flags.begin(), flags.end(), "epochs"), flags.end());
  EXPECT_TRUE(is_mocov3_bool_key("moco_m_cos"));
  EXPECT_FALSE(is_mocov3_bool_key("momentum_schedule"));
  const auto& keys = mocov3_config_keys();
  EXPECT_EQ(std::find(keys.begin(), keys.end(), "epochs"), keys.end());
  EXPECT_EQ(cfg.to_yaml().find("\nepochs:"), std::string::npos);
}

TEST(MoCoV3Config, EnumKeysAreCheckedWhenRead) {
  MoCoV3Config cfg;
  apply_mocov3_overrides(cfg, {{"vit_size", "tiny"}, {"pos_embed", "learned"}, {"mode", "raw-pixels"}});
  EXPECT_EQ(cfg.vit_size, VitSize::tiny);
  EXPECT_EQ(cfg.pos_embed, vit::PosEmbedKind::kLearned);
  EXPECT_EQ(cfg.mode, RunMode::raw_pixels);
  EXPECT_NE(cfg.to_yaml().find("mode: raw-pixels\n"), std::string::npos) << cfg.to_yaml();
  for (const auto& [key, bad] : std::vector<std::pair<std::string, std::string>>{
           {"vit_size", "huge"}, {"pos_embed", "rope"}, {"pooling", "max"}, {"mode", "eval"}}) {
    MoCoV3Config c;
    const auto msg = error_of([&] { apply_mocov3_overrides(c, {{key, bad}}); });
    EXPECT_NE(msg.find("command line --" + key + ": key '" + key + "': '" + bad + "' is not one of"), std::string::npos)
        << msg;
  }
}

TEST(MoCoV3Config, RangesComeFromTheSchema) {
  MoCoV3Config cfg;
  apply_mocov3_overrides(cfg, {{"batch_size", "1"}});
  auto msg = error_of([&] { cfg.validate(); });
  EXPECT_EQ(msg,
            "command line --batch_size: batch_size = 1 is out of range (expected >= 2 (a contrastive batch needs "
            "negatives))");
  MoCoV3Config empty;
  empty.dataset = "";
  EXPECT_EQ(error_of([&] { empty.validate(); }), "config: dataset = \"\" is out of range (expected a name)");
  MoCoV3Config crop;
  crop.crop_min = 0;
  EXPECT_NE(error_of([&] { crop.validate(); }).find("crop_min = 0 is out of range (expected (0, 1])"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { MoCoV3Config().validate(); }), "");
}

TEST(MoCoV3Config, UnknownDuplicateAndWrongTypeAreNamedErrors) {
  MoCoV3Config cfg;
  auto msg = error_of(
      [&] { apply_mocov3_config_file(cfg, write_file("m3cfg_unknown", "c.yaml", "max_epoch: 2\nepoks: 3\n")); });
  EXPECT_NE(msg.find("'epoks'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("c.yaml:2"), std::string::npos) << msg;
  msg = error_of(
      [&] { apply_mocov3_config_file(cfg, write_file("m3cfg_dup", "c.yaml", "lr: 0.1\nseed: 1\nlr: 0.2\n")); });
  EXPECT_NE(msg.find("'lr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("set twice"), std::string::npos) << msg;
  msg = error_of([&] { apply_mocov3_config_file(cfg, write_file("m3cfg_type", "c.yaml", "batch_size: many\n")); });
  EXPECT_NE(msg.find("'batch_size' expects an integer, got 'many'"), std::string::npos) << msg;
  msg = error_of([&] { apply_mocov3_config_file(cfg, write_file("m3cfg_list", "c.yaml", "lr: [1, 2]\n")); });
  EXPECT_NE(msg.find("single value"), std::string::npos) << msg;
  msg = error_of([&] { apply_mocov3_overrides(cfg, {{"seed", "1"}, {"seed", "2"}}); });
  EXPECT_NE(msg.find("given twice"), std::string::npos) << msg;
  msg = error_of([&] { apply_mocov3_overrides(cfg, {{"stop_grad_conv1", "maybe"}}); });
  EXPECT_NE(msg.find("expects true or false"), std::string::npos) << msg;
  EXPECT_THROW(apply_mocov3_config_file(cfg, "/nonexistent/c.yaml"), std::invalid_argument);
}
