// The one command-line parser (CLI11) and the seed and device flags every tool shares.

#include "models/engine/cli.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

namespace engine = graphmae2::models::engine;

namespace {

engine::CommandLine tool() {
  engine::CommandLine cli("prog");
  cli.value("dataset", "d").flag("resume", "r").config_keys({"max_epoch", "residual", "lr", "fanouts"}, {"residual"});
  return cli;
}

engine::ParsedArgs parse(const std::vector<const char*>& words) {
  std::vector<const char*> argv{"prog"};
  argv.insert(argv.end(), words.begin(), words.end());
  return tool().parse(static_cast<int>(argv.size()), argv.data());
}

std::string usage_error(const std::vector<const char*>& words) {
  try {
    parse(words);
  } catch (const engine::UsageError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Cli, FlagsKeysAndMistakes) {
  auto args = parse({"--dataset", "cora", "--max_epoch", "50", "--residual", "--lr=0.5", "--resume", "--fanouts",
                     "15,10,5"});
  EXPECT_EQ(args.get("dataset"), "cora");
  EXPECT_TRUE(args.on("resume"));
  ASSERT_EQ(args.overrides.size(), 4u);
  EXPECT_EQ(args.overrides[0], (std::pair<std::string, std::string>{"max_epoch", "50"}));
  EXPECT_EQ(args.overrides[1], (std::pair<std::string, std::string>{"residual", "true"}));
  EXPECT_EQ(args.overrides[2], (std::pair<std::string, std::string>{"lr", "0.5"}));
  EXPECT_EQ(args.overrides[3], (std::pair<std::string, std::string>{"fanouts", "15,10,5"}));
  // A bool key takes an explicit value too.
  EXPECT_EQ(parse({"--residual", "false"}).overrides.at(0).second, "false");
  EXPECT_NE(usage_error({"--no_such_key", "1"}).find("--no_such_key"), std::string::npos);
  EXPECT_NE(usage_error({"--lr", "1", "--lr", "2"}).find("twice"), std::string::npos);
  EXPECT_NE(usage_error({"--lr"}), "");
  EXPECT_NE(usage_error({"stray"}).find("stray"), std::string::npos);
}

TEST(Cli, SeedLists) {
  EXPECT_EQ(engine::parse_seeds("0-4"), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(engine::parse_seeds("3,1,7"), (std::vector<int64_t>{3, 1, 7}));
  EXPECT_EQ(engine::parse_seeds("0-1,5"), (std::vector<int64_t>{0, 1, 5}));
  EXPECT_THROW(engine::parse_seeds("a"), engine::UsageError);
  EXPECT_THROW(engine::parse_seeds("4-2"), engine::UsageError);
  EXPECT_THROW(engine::parse_seeds("1,1"), engine::UsageError);
  // A huge range is refused at once instead of allocating for minutes.
  EXPECT_THROW(engine::parse_seeds("0-100000000000"), engine::UsageError);
}

TEST(Cli, DeviceFlag) {
  EXPECT_TRUE(engine::parse_device("cpu").is_cpu());
  for (const char* bad : {"gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", ""}) {
    EXPECT_THROW(engine::parse_device(bad), engine::UsageError) << bad;
  }
  if (torch::cuda::is_available()) {
    EXPECT_EQ(engine::parse_device("cuda"), torch::Device(torch::kCUDA, 0));  // what tensors moved there report
    EXPECT_THROW(engine::parse_device("cuda:" + std::to_string(torch::cuda::device_count())), engine::UsageError);
  } else {
    try {
      engine::parse_device("cuda");
      FAIL() << "cuda accepted without a GPU";
    } catch (const engine::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos) << e.what();
    }
  }
}
