// The one command-line parser (CLI11) and the seed and device flags every tool shares.

#include "models/engine/cli.h"
#include "util/atomic_file.h"

#include "fixtures/errors.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/cuda.h>
#include <unistd.h>

#include <fstream>

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
  auto args =
      parse({"--dataset", "cora", "--max_epoch", "50", "--residual", "--lr=0.5", "--resume", "--fanouts", "15,10,5"});
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

TEST(Cli, AFolderHoldingARunIsRefusedUnlessResumedOrOverwritten) {
  namespace fs = std::filesystem;
  const auto out = graphmae2::testing::scratch_dir("cli-claim");
  EXPECT_NO_THROW(engine::claim_output_dir(out / "new", false, false)) << "a folder that does not exist";
  std::ofstream(out / "config.yaml") << "lr: 1\n";
  std::ofstream(out / "lc-ego32.h5") << "cache";
  EXPECT_NO_THROW(engine::claim_output_dir(out, false, false)) << "config.yaml and caches are not a run's outputs";

  fs::create_directories(out / "seed0");
  fs::create_directories(out / "seed1");
  std::ofstream(out / "seed0" / "checkpoint.pt") << "x";
  std::ofstream(out / "seed1" / "metrics.jsonl") << "{}";
  std::ofstream(out / "result.json") << "{}";
  std::ofstream(out / "embeddings_seed0.h5") << "x";
  EXPECT_EQ(engine::run_outputs(out),
            (std::vector<fs::path>{"embeddings_seed0.h5", "result.json", fs::path("seed0") / "checkpoint.pt",
                                   fs::path("seed1") / "metrics.jsonl"}));
  const auto msg = graphmae2::testing::error_of([&] { engine::claim_output_dir(out, false, false); });
  EXPECT_NE(msg.find(out.string() + " already holds a run"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--resume"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--overwrite"), std::string::npos) << msg;
  EXPECT_TRUE(fs::exists(out / "result.json")) << "refusing changes nothing";
  EXPECT_NO_THROW(engine::claim_output_dir(out, true, false)) << "--resume continues it";
  EXPECT_THROW(engine::claim_output_dir(out, true, true), engine::UsageError);

  const auto said = engine::claim_output_dir(out, false, true);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("--overwrite: removed"), std::string::npos) << said[0];
  EXPECT_TRUE(engine::run_outputs(out).empty());
  EXPECT_TRUE(fs::exists(out / "lc-ego32.h5")) << "--overwrite removes the run's outputs only";
}

TEST(Cli, TemporariesOfKilledSavesAreRemovedOnStartAndALiveOnesKept) {
  const auto out = graphmae2::testing::scratch_dir("cli-stale-temporaries");
  std::filesystem::create_directories(out / "seed0");
  // A pid that surely belongs to no process: a child that has exited and been reaped.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  waitpid(child, nullptr, 0);
  const auto dead = out / "seed0" / (".checkpoint.pt.tmp." + std::to_string(child));
  const auto live = out / (".result.json.tmp." + std::to_string(getpid()));
  std::ofstream(dead) << std::string(4096, 'x');
  std::ofstream(live) << "{}";
  const auto said = engine::claim_output_dir(out, /*resume=*/true, /*overwrite=*/false);
  ASSERT_EQ(said.size(), 1u);
  EXPECT_NE(said[0].find("removed 1 temporary file(s)"), std::string::npos) << said[0];
  EXPECT_FALSE(std::filesystem::exists(dead)) << "a killed save's temporary stays behind";
  EXPECT_TRUE(std::filesystem::exists(live)) << "a running process's temporary was removed";
  const auto [files, bytes] = graphmae2::util::remove_stale_temporaries(out);
  EXPECT_EQ(files, 0);
  EXPECT_EQ(bytes, 0);
}
