// The exit-code contract every tool shares (tools/common/tool_main.h, docs/reliability.md): each code each tool
// can give, produced by running the built tool on an input that calls for it. 0 done, 1 runtime failure,
// 2 usage or bad input, 3 diverged, 4 collapse, 130 interrupted (after a checkpoint).

#include "datasets/dataset_h5.h"
#include "datasets/idx.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

fs::path tool(const std::string& name) { return fs::path(GRAPHMAE2_BINARY_DIR) / "bin" / name; }

/// @brief A tool started with its output in a log file; `wait` returns its exit code (128 + signal if killed).
struct Running {
  pid_t pid = -1;
  fs::path log;
  int wait() const {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::string output() const {
    std::ifstream in(log);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
};

Running start(const std::string& name, std::vector<std::string> args, const fs::path& log) {
  args.insert(args.begin(), tool(name).string());
  Running r;
  r.log = log;
  r.pid = ::fork();
  if (r.pid == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return r;
}

// Runs a tool to its end: its exit code, with its output for the failure message.
std::pair<int, std::string> run(const std::string& name, const std::vector<std::string>& args, const fs::path& dir) {
  const auto r = start(name, args, dir / (name + ".log"));
  const int code = r.wait();
  return {code, r.output()};
}

// Waits (up to a minute) for `file` to have a line, then sends SIGINT to `r`.
void interrupt_after_first_line(const Running& r, const fs::path& file) {
  for (int i = 0; i < 600; ++i) {
    std::ifstream in(file);
    std::string line;
    if (std::getline(in, line) && !line.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(r.pid, SIGINT);
}

fs::path tiny_graph(const fs::path& dir, bool constant_features) {
  auto data = graphmae2::testing::tiny_dataset(120, 12, 3, 4);
  if (constant_features) data.features = torch::ones_like(data.features);
  const auto file = dir / (constant_features ? "constant.h5" : "tiny.h5");
  graphmae2::datasets::save_dataset_h5(data, file);
  return file;
}

std::vector<std::string> small_graphmae2(const fs::path& data, const fs::path& out) {
  return {"--dataset",     data.string(), "--out",           out.string(), "--seeds",      "0", "--num_hidden",  "8",
          "--num_heads",   "2",           "--num_out_heads", "1",          "--num_layers", "2", "--max_epoch_f", "5",
          "--num_threads", "1",           "--diag_every",    "2",          "--no-progress"};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

class ToolExitCodes : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"graphmae2-train", "graphmae2-eval", "graphmae2-data", "mocov3-train"}) {
      if (!fs::exists(tool(name))) GTEST_SKIP() << name << " is not built in this tree";
    }
    dir_ = graphmae2::testing::scratch_dir(std::string("exit_codes_") +
                                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  fs::path dir_;
};

TEST_F(ToolExitCodes, GraphMAE2TrainGivesEachCode) {
  const auto data = tiny_graph(dir_, false);
  auto [code, out] = run("graphmae2-train", with(small_graphmae2(data, dir_ / "done"), {"--max_epoch", "2"}), dir_);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("linear-probe"), std::string::npos) << out;
  std::tie(code, out) = run("graphmae2-train", with(small_graphmae2(data, dir_ / "u"), {"--no_such_key", "1"}), dir_);
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = run("graphmae2-train", with(small_graphmae2(data, dir_ / "done"), {"--max_epoch", "2"}), dir_);
  EXPECT_EQ(code, 2) << "a finished run in --out without --resume: " << out;
  std::tie(code, out) = run("graphmae2-train", small_graphmae2(dir_ / "missing.h5", dir_ / "m"), dir_);
  EXPECT_EQ(code, 1) << out;
  std::tie(code, out) =
      run("graphmae2-train", with(small_graphmae2(data, dir_ / "nan"), {"--max_epoch", "5", "--lr", "1e30"}), dir_);
  EXPECT_EQ(code, 3) << out;
  EXPECT_NE(out.find("diverged"), std::string::npos) << out;
  const auto constant = tiny_graph(dir_, true);
  std::tie(code, out) = run(
      "graphmae2-train", with(small_graphmae2(constant, dir_ / "c"), {"--max_epoch", "6", "--fail-on-collapse"}), dir_);
  EXPECT_EQ(code, 4) << out;
  const auto r = start("graphmae2-train", with(small_graphmae2(data, dir_ / "i"), {"--max_epoch", "100000"}),
                       dir_ / "interrupted.log");
  interrupt_after_first_line(r, dir_ / "i" / "seed0" / "metrics.jsonl");
  EXPECT_EQ(r.wait(), 130) << r.output();
  EXPECT_NE(r.output().find("--resume"), std::string::npos) << r.output();
  EXPECT_TRUE(fs::exists(dir_ / "i" / "seed0" / "checkpoint.pt"));
}

TEST_F(ToolExitCodes, GraphMAE2EvalGivesEachCode) {
  const auto data = tiny_graph(dir_, false);
  ASSERT_EQ(run("graphmae2-train", with(small_graphmae2(data, dir_ / "run"), {"--max_epoch", "2"}), dir_).first, 0);
  const auto embeddings = (dir_ / "run" / "embeddings_seed0.h5").string();
  auto [code, out] =
      run("graphmae2-eval", {"--dataset", data.string(), "--embeddings", embeddings, "--seeds", "0", "--no-progress"},
          dir_);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("linear-probe"), std::string::npos) << out;
  std::tie(code, out) = run("graphmae2-eval", {"--embeddings", embeddings}, dir_);
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) =
      run("graphmae2-eval", {"--dataset", data.string(), "--embeddings", (dir_ / "none.h5").string()}, dir_);
  EXPECT_EQ(code, 1) << out;
}

TEST_F(ToolExitCodes, GraphMAE2DataGivesEachCode) {
  const auto data = tiny_graph(dir_, false);
  auto [code, out] = run("graphmae2-data", {"inspect", data.string()}, dir_);
  EXPECT_EQ(code, 0) << out;
  std::tie(code, out) = run("graphmae2-data", {"frobnicate", data.string()}, dir_);
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = run("graphmae2-data", {"inspect", (dir_ / "none.h5").string()}, dir_);
  EXPECT_EQ(code, 1) << out;
}

// 8x8 images of two classes in the MNIST layout (train and t10k).
fs::path tiny_images(const fs::path& dir) {
  torch::manual_seed(5);
  for (const auto& [split, n] : {std::pair<std::string, int64_t>{"train", 64}, {"t10k", 32}}) {
    const auto labels = torch::arange(n) % 2;
    auto images = torch::randint(0, 200, {n, 8, 8});
    graphmae2::datasets::write_idx(dir / (split + "-images-idx3-ubyte"), images.to(torch::kUInt8));
    graphmae2::datasets::write_idx(dir / (split + "-labels-idx1-ubyte"), labels.to(torch::kUInt8));
  }
  return dir;
}

std::vector<std::string> small_mocov3(const fs::path& data, const fs::path& out) {
  return {"--data_root",     data.string(), "--dataset",      "tiny", "--out",          out.string(),
          "--patch_size",    "4",           "--embed_dim",    "16",   "--depth",        "1",
          "--num_heads",     "2",           "--moco_dim",     "8",    "--moco_mlp_dim", "16",
          "--batch_size",    "16",          "--knn_k",        "5",    "--knn_train",    "64",
          "--knn_test",      "32",          "--probe_epochs", "5",    "--eval_batch",   "32",
          "--warmup_epochs", "0",           "--no-progress"};
}

TEST_F(ToolExitCodes, MoCoV3TrainGivesEachCode) {
  const auto images = tiny_images(dir_);
  // An old key name still works, and the tool says what it is called now.
  auto [code, out] = run("mocov3-train", with(small_mocov3(images, dir_ / "done"), {"--epochs", "1"}), dir_);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("linear-probe"), std::string::npos) << out;
  EXPECT_NE(out.find("'epochs' is deprecated: it is now 'max_epoch'"), std::string::npos) << out;
  std::tie(code, out) = run("mocov3-train", with(small_mocov3(images, dir_ / "u"), {"--no_such_key", "1"}), dir_);
  EXPECT_EQ(code, 2) << out;
  std::tie(code, out) = run("mocov3-train", small_mocov3(dir_ / "no-images", dir_ / "m"), dir_);
  EXPECT_EQ(code, 1) << out;
  std::tie(code, out) =
      run("mocov3-train", with(small_mocov3(images, dir_ / "nan"), {"--max_epoch", "3", "--lr", "1e30"}), dir_);
  EXPECT_EQ(code, 3) << out;
  const auto r = start("mocov3-train", with(small_mocov3(images, dir_ / "i"), {"--max_epoch", "100000"}),
                       dir_ / "interrupted.log");
  interrupt_after_first_line(r, dir_ / "i" / "metrics.jsonl");
  EXPECT_EQ(r.wait(), 130) << r.output();
  EXPECT_TRUE(fs::exists(dir_ / "i" / "checkpoint.pt")) << r.output();
}

}  // namespace
