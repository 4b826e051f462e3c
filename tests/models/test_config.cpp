// Config: reference keys from YAML and flags, precedence, and every class of error naming what was wrong.

#include "models/train/cli.h"
#include "models/train/config.h"

#include "fixtures/paths.h"

#include <gtest/gtest.h>

#include <fstream>

namespace train = graphmae2::models::train;

namespace {

std::string write_yaml(const std::string& name, const std::string& text) {
  auto dir = graphmae2::testing::scratch_dir("config-" + name);
  auto path = (dir / "c.yaml").string();
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ShippedConfigsLoadWithTheReferenceValues) {
  train::TrainConfig cfg;
  auto keys = train::apply_config_file(cfg, std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
  EXPECT_GT(keys.size(), 20u);
  cfg.validate();
  EXPECT_EQ(cfg.num_hidden, 1024);
  EXPECT_EQ(cfg.num_heads, 8);
  EXPECT_EQ(cfg.max_epoch, 2000);
  EXPECT_DOUBLE_EQ(cfg.weight_decay, 2e-4);
  EXPECT_DOUBLE_EQ(cfg.lam, 0.15);
  EXPECT_EQ(cfg.remask_method, "fixed");
  EXPECT_TRUE(cfg.scheduler);
  for (const char* name : {"citeseer", "pubmed", "ogbn-arxiv", "ogbn-products", "ogbn-papers100M"}) {
    train::TrainConfig c;
    EXPECT_NO_THROW(train::apply_config_file(c, std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/" + name + ".yaml"))
        << name;
    EXPECT_NO_THROW(c.validate()) << name;
  }
}

TEST(Config, FlagsOverrideTheFile) {
  train::TrainConfig cfg;
  train::apply_config_file(cfg, write_yaml("override", "max_epoch: 100\nlr: 0.01\n"));
  train::apply_overrides(cfg, {{"max_epoch", "7"}, {"use_latent", "false"}});
  EXPECT_EQ(cfg.max_epoch, 7);
  EXPECT_DOUBLE_EQ(cfg.lr, 0.01);
  EXPECT_FALSE(cfg.use_latent);
}

TEST(Config, ErrorsNameTheKeyTheLineAndTheValue) {
  train::TrainConfig cfg;
  auto unknown = error_of([&] { train::apply_config_file(cfg, write_yaml("unknown", "lr: 0.1\nno_such_key: 3\n")); });
  EXPECT_NE(unknown.find("no_such_key"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find(":2"), std::string::npos) << unknown;
  auto dup = error_of([&] { train::apply_config_file(cfg, write_yaml("dup", "num_layers: 2\nlr: 1\nnum_layers: 2\n")); });
  EXPECT_NE(dup.find("twice"), std::string::npos) << dup;
  EXPECT_NE(dup.find(":3"), std::string::npos) << dup;
  auto type = error_of([&] { train::apply_config_file(cfg, write_yaml("type", "max_epoch: 20.5\n")); });
  EXPECT_NE(type.find("max_epoch"), std::string::npos);
  EXPECT_NE(type.find("20.5"), std::string::npos) << type;
  auto boolean = error_of([&] { train::apply_overrides(cfg, {{"residual", "maybe"}}); });
  EXPECT_NE(boolean.find("maybe"), std::string::npos) << boolean;
  auto missing = error_of([&] { train::apply_config_file(cfg, "/nonexistent/x.yaml"); });
  EXPECT_NE(missing.find("/nonexistent/x.yaml"), std::string::npos) << missing;
  auto nested = error_of([&] { train::apply_config_file(cfg, write_yaml("nested", "lr: [1, 2]\n")); });
  EXPECT_NE(nested.find("lr"), std::string::npos) << nested;
}

TEST(Config, ValidateRejectsOutOfRangeValues) {
  auto bad = [](auto set) {
    train::TrainConfig c;
    set(c);
    return error_of([&] { c.validate(); });
  };
  EXPECT_NE(bad([](auto& c) { c.mask_rate = 1.5; }).find("mask_rate"), std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.num_hidden = 30; c.num_heads = 4; }).find("num_hidden"), std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.optimizer = "sgd"; }).find("sgd"), std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.momentum = -0.1; }).find("momentum"), std::string::npos);
  EXPECT_NE(bad([](auto& c) { c.use_latent = false; c.use_reconstruction = false; }).find("use_reconstruction"),
            std::string::npos);
  EXPECT_EQ(bad([](auto&) {}), "");
}

TEST(Config, ResolvedYamlRoundTrips) {
  train::TrainConfig cfg;
  cfg.lr = 0.000123;
  cfg.remask_method = "fixed";
  cfg.use_latent = false;
  train::TrainConfig back;
  train::apply_config_file(back, write_yaml("roundtrip", cfg.to_yaml()));
  EXPECT_EQ(back.to_yaml(), cfg.to_yaml());
}

TEST(Config, SeedLists) {
  EXPECT_EQ(train::parse_seeds("0-4"), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(train::parse_seeds("3,1,7"), (std::vector<int64_t>{3, 1, 7}));
  EXPECT_EQ(train::parse_seeds("0-1,5"), (std::vector<int64_t>{0, 1, 5}));
  EXPECT_THROW(train::parse_seeds("a"), std::invalid_argument);
  EXPECT_THROW(train::parse_seeds("4-2"), std::invalid_argument);
  EXPECT_THROW(train::parse_seeds("1,1"), std::invalid_argument);
}

TEST(Cli, FlagsKeysAndMistakes) {
  const char* argv[] = {"prog", "--dataset", "cora", "--max_epoch", "50", "--residual", "--lr=0.5", "--resume"};
  auto args = train::parse_args(8, argv, {"dataset"}, {"resume"}, train::is_config_key, train::is_bool_key);
  EXPECT_EQ(args.tool.at("dataset"), "cora");
  EXPECT_EQ(args.tool.at("resume"), "true");
  ASSERT_EQ(args.overrides.size(), 3u);
  EXPECT_EQ(args.overrides[0], (std::pair<std::string, std::string>{"max_epoch", "50"}));
  EXPECT_EQ(args.overrides[1], (std::pair<std::string, std::string>{"residual", "true"}));
  EXPECT_EQ(args.overrides[2], (std::pair<std::string, std::string>{"lr", "0.5"}));
  const char* unknown[] = {"prog", "--no_such_key", "1"};
  EXPECT_THROW(train::parse_args(3, unknown, {}, {}, train::is_config_key, train::is_bool_key), train::UsageError);
  const char* twice[] = {"prog", "--lr", "1", "--lr", "2"};
  EXPECT_THROW(train::parse_args(5, twice, {}, {}, train::is_config_key, train::is_bool_key), train::UsageError);
  const char* missing[] = {"prog", "--lr"};
  EXPECT_THROW(train::parse_args(2, missing, {}, {}, train::is_config_key, train::is_bool_key), train::UsageError);
}

}  // namespace

TEST(Cli, DeviceFlag) {
  EXPECT_TRUE(train::parse_device("cpu").is_cpu());
  for (const char* bad : {"gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", ""}) {
    EXPECT_THROW(train::parse_device(bad), train::UsageError) << bad;
  }
  if (torch::cuda::is_available()) {
    EXPECT_EQ(train::parse_device("cuda"), torch::Device(torch::kCUDA, 0));  // what tensors moved there report
    EXPECT_THROW(train::parse_device("cuda:" + std::to_string(torch::cuda::device_count())), train::UsageError);
  } else {
    try {
      train::parse_device("cuda");
      FAIL() << "cuda accepted without a GPU";
    } catch (const train::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos) << e.what();
    }
  }
}
