// A library run prints nothing: its lines go to the options' LogSink, and the caller's torch generator is left
// where it was.

#include "fixtures/experiment_options.h"
#include "fixtures/tiny_dataset.h"
#include "models/graphmae2/experiment.h"

#include <gtest/gtest.h>

namespace gm = graphmae2::models::graphmae2;
namespace engine = graphmae2::models::engine;

TEST(ExperimentOutput, LinesGoToTheSinkNothingToStdoutAndTheCallersGeneratorIsUntouched) {
  const auto data = graphmae2::testing::tiny_dataset(80, 12, 3, 3);
  const auto cfg = graphmae2::testing::small_graphmae2_config(2);
  auto options = graphmae2::testing::quiet_experiment("experiment-output");
  std::vector<std::pair<engine::LogLevel, std::string>> lines;
  options.log = [&](engine::LogLevel level, const std::string& line) { lines.emplace_back(level, line); };

  torch::manual_seed(99);
  const auto expected_next = torch::rand({3});
  torch::manual_seed(99);
  testing::internal::CaptureStdout();
  const auto result = gm::run_experiment(cfg, data, options);
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_TRUE(torch::equal(torch::rand({3}), expected_next)) << "the run moved the caller's generator";

  ASSERT_FALSE(lines.empty());
  bool seed_line = false;
  for (const auto& [level, line] : lines) seed_line = seed_line || line.rfind("tiny seed 0: test ", 0) == 0;
  EXPECT_TRUE(seed_line) << "no per-seed line among " << lines.size() << " lines";
  EXPECT_EQ(result.num_seeds, 1);
  EXPECT_NE(result.summary_line().find("tiny  linear-probe"), std::string::npos) << result.summary_line();
}
