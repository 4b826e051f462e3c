// Config: reference keys from YAML and flags, precedence, and every class of error naming what was wrong.

#include "fixtures/errors.h"
#include "models/graphmae2/config.h"

#include "fixtures/paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace gm = graphmae2::models::graphmae2;

using graphmae2::testing::error_of;

namespace {

std::string write_yaml(const std::string& name, const std::string& text) {
  auto dir = graphmae2::testing::scratch_dir("config-" + name);
  auto path = (dir / "c.yaml").string();
  std::ofstream(path) << text;
  return path;
}

TEST(Config, ShippedConfigsLoadWithTheReferenceValues) {
  gm::GraphMAE2Config cfg;
  auto keys = cfg.apply_file(std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
  EXPECT_GT(keys.size(), 20u);
  cfg.validate();
  EXPECT_EQ(cfg.num_hidden, 1024);
  EXPECT_EQ(cfg.num_heads, 8);
  EXPECT_EQ(cfg.max_epoch, 2000);
  EXPECT_DOUBLE_EQ(cfg.weight_decay, 2e-4);
  EXPECT_DOUBLE_EQ(cfg.lam, 0.15);
  EXPECT_EQ(cfg.remask_method, gm::RemaskMethod::fixed);
  EXPECT_EQ(cfg.feature_norm, gm::FeatureNorm::row);
  EXPECT_TRUE(cfg.zero_init_tokens);
  EXPECT_FALSE(cfg.symmetrize);
  EXPECT_TRUE(cfg.scheduler);
  for (const char* name : {"citeseer", "pubmed", "ogbn-arxiv", "ogbn-products", "ogbn-papers100M"}) {
    gm::GraphMAE2Config c;
    EXPECT_NO_THROW(c.apply_file(std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/" + name + ".yaml")) << name;
    EXPECT_NO_THROW(c.validate()) << name;
  }
}

TEST(Config, FlagsOverrideTheFile) {
  gm::GraphMAE2Config cfg;
  cfg.apply_file(write_yaml("override", "max_epoch: 100\nlr: 0.01\n"));
  cfg.apply_overrides({{"max_epoch", "7"}, {"use_latent", "false"}});
  EXPECT_EQ(cfg.max_epoch, 7);
  EXPECT_DOUBLE_EQ(cfg.lr, 0.01);
  EXPECT_FALSE(cfg.use_latent);
}

TEST(Config, ErrorsNameTheKeyTheLineAndTheValue) {
  gm::GraphMAE2Config cfg;
  auto unknown = error_of([&] { cfg.apply_file(write_yaml("unknown", "lr: 0.1\nno_such_key: 3\n")); });
  EXPECT_NE(unknown.find("no_such_key"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find(":2"), std::string::npos) << unknown;
  auto dup = error_of([&] { cfg.apply_file(write_yaml("dup", "num_layers: 2\nlr: 1\nnum_layers: 2\n")); });
  EXPECT_NE(dup.find("twice"), std::string::npos) << dup;
  EXPECT_NE(dup.find(":3"), std::string::npos) << dup;
  auto type = error_of([&] { cfg.apply_file(write_yaml("type", "max_epoch: 20.5\n")); });
  EXPECT_NE(type.find("max_epoch"), std::string::npos);
  EXPECT_NE(type.find("20.5"), std::string::npos) << type;
  auto boolean = error_of([&] { cfg.apply_overrides({{"residual", "maybe"}}); });
  EXPECT_NE(boolean.find("maybe"), std::string::npos) << boolean;
  auto missing = error_of([&] { cfg.apply_file("/nonexistent/x.yaml"); });
  EXPECT_NE(missing.find("/nonexistent/x.yaml"), std::string::npos) << missing;
  const auto folder = std::filesystem::temp_directory_path().string();
  EXPECT_THROW(cfg.apply_file(folder), std::invalid_argument) << "a directory is a usage mistake (exit 2)";
  auto directory = error_of([&] { cfg.apply_file(folder); });
  EXPECT_NE(directory.find("'" + folder + "' is a directory"), std::string::npos) << directory;
  auto nested = error_of([&] { cfg.apply_file(write_yaml("nested", "lr: [1, 2]\n")); });
  EXPECT_NE(nested.find("lr"), std::string::npos) << nested;
}

TEST(Config, ValidateRejectsOutOfRangeValues) {
  auto bad = [](auto set) {
    gm::GraphMAE2Config c;
    set(c);
    return error_of([&] { c.validate(); });
  };
  EXPECT_NE(bad([](auto& c) { c.mask_rate = 1.5; }).find("mask_rate"), std::string::npos);
  EXPECT_NE(bad([](auto& c) {
              c.num_hidden = 30;
              c.num_heads = 4;
            }).find("num_hidden"),
            std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.num_out_heads = 3; }).find("num_out_heads"), std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.momentum = -0.1; }).find("momentum"), std::string::npos);
  EXPECT_NE(bad([](auto& c) {
              c.use_latent = false;
              c.use_reconstruction = false;
            }).find("use_reconstruction"),
            std::string::npos);
  EXPECT_EQ(bad([](auto&) {}), "");
}

TEST(Config, ResolvedYamlRoundTrips) {
  gm::GraphMAE2Config cfg;
  cfg.lr = 0.000123;
  cfg.remask_method = gm::RemaskMethod::fixed;
  cfg.fanouts = {4, 2};
  cfg.dataset = "cora";
  cfg.use_latent = false;
  gm::GraphMAE2Config back;
  back.apply_file(write_yaml("roundtrip", cfg.to_yaml()));
  EXPECT_EQ(back.to_yaml(), cfg.to_yaml());
}

TEST(Config, ListAndEnumKeys) {
  gm::GraphMAE2Config cfg;
  cfg.apply_file(write_yaml("lists", "num_layers: 3\nfanouts: [15, 10, 5]\nactivation: elu\nremask_method: fixed\n"));
  EXPECT_EQ(cfg.fanouts, (std::vector<int64_t>{15, 10, 5}));
  EXPECT_EQ(cfg.activation, graphmae2::models::layers::Activation::elu);
  EXPECT_EQ(cfg.remask_method, gm::RemaskMethod::fixed);
  EXPECT_NO_THROW(cfg.validate());
  cfg.apply_overrides({{"fanouts", "-1,4,2"}});
  EXPECT_EQ(cfg.fanouts, (std::vector<int64_t>{-1, 4, 2}));
  EXPECT_NE(cfg.to_yaml().find("fanouts: [-1, 4, 2]"), std::string::npos) << cfg.to_yaml();
  // A list whose length is not the layer count, a bad entry, a bad list and an unknown choice name the value.
  auto c = cfg;
  c.fanouts = {15, 10};
  EXPECT_NE(error_of([&] { c.validate(); }).find("[15, 10]"), std::string::npos);
  c.fanouts = {15, 0, 5};
  EXPECT_NE(error_of([&] { c.validate(); }).find("fanouts"), std::string::npos);
  EXPECT_NE(error_of([&] { cfg.apply_overrides({{"fanouts", "15,x"}}); }).find("15,x"), std::string::npos);
  cfg.apply_overrides({{"matmul_precision", "medium"}});
  EXPECT_EQ(cfg.matmul_precision, gm::MatmulPrecision::medium);
  EXPECT_EQ(cfg.matmul_precision_name(), "medium");
  EXPECT_NE(error_of([&] { cfg.apply_overrides({{"matmul_precision", "bf16"}}); }).find("bf16"), std::string::npos);
  const auto choice = error_of([&] { cfg.apply_overrides({{"activation", "swish"}}); });
  EXPECT_NE(choice.find("swish"), std::string::npos) << choice;
  EXPECT_NE(choice.find("prelu"), std::string::npos) << choice;  // lists the choices
}

TEST(Config, OptionsFlowFromTheConfig) {
  gm::GraphMAE2Config cfg;
  cfg.apply_file(std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
  const auto model = cfg.model_options(1433);
  EXPECT_EQ(model.in_dim(), 1433);
  EXPECT_EQ(model.num_hidden(), cfg.num_hidden);
  EXPECT_EQ(model.heads(), cfg.num_heads);
  EXPECT_EQ(model.zero_init_tokens(), cfg.zero_init_tokens);
  EXPECT_DOUBLE_EQ(model.feat_drop(), cfg.in_drop);
  const auto loss = cfg.loss_options();
  EXPECT_EQ(loss.remask_method, cfg.remask_method);
  EXPECT_DOUBLE_EQ(loss.alpha_l, cfg.alpha_l);
  EXPECT_DOUBLE_EQ(loss.lam, cfg.lam);
  const auto probe = cfg.probe_options(7);
  EXPECT_DOUBLE_EQ(probe.lr, cfg.lr_f);
  EXPECT_EQ(probe.max_epoch, cfg.max_epoch_f);
  EXPECT_EQ(probe.seed, 7u);
  // The loss options' defaults are the config's defaults: one source of truth.
  const gm::LossOptions defaults;
  const auto from_config = gm::GraphMAE2Config().loss_options();
  EXPECT_EQ(defaults.remask_method, from_config.remask_method);
  EXPECT_EQ(defaults.loss_fn, from_config.loss_fn);
  EXPECT_EQ(defaults.latent_loss, from_config.latent_loss);
  EXPECT_DOUBLE_EQ(defaults.alpha_l, from_config.alpha_l);
  EXPECT_DOUBLE_EQ(defaults.lam, from_config.lam);
}

}  // namespace

TEST(Config, RangeErrorsNameTheFileAndLineOrTheFlag) {
  // Issue 14 class 12: a value out of range is named with where it was set, as the README promises.
  graphmae2::models::graphmae2::GraphMAE2Config cfg;
  cfg.apply_text("mask_rate: 0.5\nlr: -1\n", "bad.yaml");
  try {
    cfg.validate();
    ADD_FAILURE() << "lr -1 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "bad.yaml:2: lr = -1 is out of range (expected > 0)");
  }
  cfg.apply_overrides({{"lr", "0.01"}, {"mask_rate", "3"}});
  try {
    cfg.validate();
    ADD_FAILURE() << "mask_rate 3 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "command line --mask_rate: mask_rate = 3 is out of range (expected (0, 1))");
  }
}

TEST(Config, RemovedKeysAreErrorsThatSayWhyButStoredConfigsStillLoad) {
  // encoder, decoder (only gat existed) and replace_rate (no effect) are gone: setting one is an error naming it.
  gm::GraphMAE2Config cfg;
  auto msg = error_of([&] { cfg.apply_file(write_yaml("removed", "lr: 0.1\nencoder: gat\n")); });
  EXPECT_NE(msg.find(":2: key 'encoder' was removed: graphmae2's encoder is always GAT"), std::string::npos) << msg;
  msg = error_of([&] { cfg.apply_overrides({{"replace_rate", "0.1"}}); });
  EXPECT_EQ(msg, "command line --replace_rate: key 'replace_rate' was removed: it had no effect, as in the reference");
  // The command line passes them on (so the message above is what a user sees), but the key list has none.
  const auto& flags = gm::GraphMAE2Config::flag_names();
  EXPECT_NE(std::find(flags.begin(), flags.end(), "decoder"), flags.end());
  const auto& keys = gm::GraphMAE2Config::keys();
  EXPECT_EQ(std::find(keys.begin(), keys.end(), "decoder"), keys.end());
  // A checkpoint's stored config from before still loads: the removed keys are skipped with a note.
  gm::GraphMAE2Config stored;
  stored.apply_text("lr: 0.002\nencoder: gat\ndecoder: gat\nreplace_rate: 0.15\n", "the checkpoint's config");
  EXPECT_DOUBLE_EQ(stored.lr, 0.002);
  EXPECT_EQ(stored.notes.size(), 3u);
  gm::GraphMAE2Config expected;
  expected.lr = 0.002;
  EXPECT_TRUE(stored.differing_keys(expected, {}).empty());
}

TEST(Config, TheResumeRulesComeFromTheSchema) {
  const auto& free = gm::GraphMAE2Config::keys_not_affecting_training();
  for (const char* key :
       {"lr_f", "weight_decay_f", "max_epoch_f", "linear_prob", "batch_size_f", "save_every", "save_every_minutes",
        "diag_every", "num_threads", "lc_file", "loader_workers", "max_steps", "on_collapse"}) {
    EXPECT_NE(std::find(free.begin(), free.end(), key), free.end()) << key;
  }
  EXPECT_EQ(free.size(), 13u);
  EXPECT_EQ(std::find(free.begin(), free.end(), "lr"), free.end());
}
