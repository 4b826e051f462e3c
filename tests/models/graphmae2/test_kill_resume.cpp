// graphmae2-train killed with SIGKILL at random moments and resumed until it finishes must end exactly where an
// uninterrupted run ends (embeddings, losses, accuracy): no torn checkpoint, no lost or repeated step. A small
// model on a small generated graph keeps this short enough for CI; the kill times are printed for a rerun.

#include "datasets/dataset_h5.h"
#include "datasets/hdf5_io.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <chrono>
#include <fcntl.h>
#include <fstream>
#include <random>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const fs::path kTrainer = fs::path(GRAPHMAE2_BINARY_DIR) / "bin" / "graphmae2-train";

pid_t start_trainer(const fs::path& data, const fs::path& out, bool resume) {
  std::vector<std::string> args{kTrainer.string(),
                                "--dataset",
                                data.string(),
                                "--out",
                                out.string(),
                                "--seeds",
                                "0",
                                "--num_hidden",
                                "16",
                                "--num_heads",
                                "2",
                                "--num_out_heads",
                                "1",
                                "--num_layers",
                                "2",
                                "--max_epoch",
                                "30",
                                "--save_every",
                                "1",
                                "--max_epoch_f",
                                "30",
                                "--num_threads",
                                "1",
                                "--diag_every",
                                "5",
                                "--no-progress"};
  if (resume) args.emplace_back("--resume");
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The training figures of each metrics line. Left out: the wall clock, and the diagnostics, whose history
// (flag counts, running medians, the epochs they were last computed at) restarts with each process.
std::vector<nlohmann::json> losses(const fs::path& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    auto rec = nlohmann::json::parse(line);
    for (const char* key :
         {"epoch_seconds", "effective_rank", "embedding_std", "mean_cosine", "diag_flags", "grad_spikes"}) {
      rec.erase(key);
    }
    out.push_back(rec);
  }
  return out;
}

TEST(KillResume, SigkillAtRandomMomentsThenResumeEqualsTheStraightRun) {
  if (!fs::exists(kTrainer)) GTEST_SKIP() << "graphmae2-train is not built in this tree";
  const auto dir = graphmae2::testing::scratch_dir("kill_resume");
  const auto data = dir / "tiny.h5";
  graphmae2::datasets::save_dataset_h5(graphmae2::testing::tiny_dataset(300, 24, 3, 4), data);

  const auto straight = dir / "straight";
  const auto t0 = Clock::now();
  ASSERT_EQ(wait_exit(start_trainer(data, straight, false)), 0);
  const double straight_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto expected_embeddings = graphmae2::datasets::read_h5_tensor(straight / "embeddings_seed0.h5", "embeddings");
  const auto expected_losses = losses(straight / "seed0" / "metrics.jsonl");
  const auto expected_result = nlohmann::json::parse(std::ifstream(straight / "result.json"));
  ASSERT_EQ(expected_losses.size(), 30u);

  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> when(0.0, straight_ms);
  int kills_landed = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const auto out = dir / ("trial" + std::to_string(trial));
    std::string history =
        "seed " + std::to_string(seed) + ", straight run " + std::to_string(straight_ms) + " ms; kills at";
    int code = -1;
    // Two kills per trial (the second one kills a resumed run), then a resume that finishes.
    for (int attempt = 0; attempt < 3 && code != 0; ++attempt) {
      const pid_t pid = start_trainer(data, out, attempt > 0);
      if (attempt < 2) {
        const double ms = when(rng);
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
        history += " " + std::to_string(static_cast<int>(ms)) + " ms";
        ::kill(pid, SIGKILL);
      }
      code = wait_exit(pid);
      if (code == 128 + SIGKILL) ++kills_landed;
      ASSERT_TRUE(code == 0 || code == 128 + SIGKILL) << history << ": exit " << code;
    }
    SCOPED_TRACE(history);
    ASSERT_EQ(code, 0);
    EXPECT_TRUE(torch::equal(graphmae2::datasets::read_h5_tensor(out / "embeddings_seed0.h5", "embeddings"),
                             expected_embeddings));
    EXPECT_EQ(losses(out / "seed0" / "metrics.jsonl"), expected_losses);
    const auto result = nlohmann::json::parse(std::ifstream(out / "result.json"));
    EXPECT_EQ(result.at("mean"), expected_result.at("mean"));
    // Nothing half-written is left behind.
    for (const auto& entry : fs::recursive_directory_iterator(out)) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
    }
  }
  EXPECT_GT(kills_landed, 0) << "every run finished before its kill: the kill times were not inside the runs";
}

}  // namespace
