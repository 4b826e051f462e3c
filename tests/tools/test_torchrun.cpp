// graphmae2-train on several processes launched by torchrun (the project venv's), on loopback with a free port:
// a mini-batch run on Cora, and the launches it must refuse on every rank.

#include "fixtures/paths.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace {

namespace fs = std::filesystem;

fs::path torchrun() { return fs::path(GRAPHMAE2_SOURCE_DIR) / ".venv" / "bin" / "torchrun"; }
fs::path train_tool() { return fs::path(GRAPHMAE2_BINARY_DIR) / "bin" / "graphmae2-train"; }

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `program args` on `ranks` processes under torchrun; returns torchrun's exit code, its output in `output`.
int launch(int ranks, const std::string& program_and_args, const fs::path& dir, std::string& output) {
  const auto log = dir / "torchrun.log";
  const std::string command = "cd '" + dir.string() + "' && OMP_NUM_THREADS=1 timeout 300 '" + torchrun().string() +
                              "' --no-python --nproc-per-node " + std::to_string(ranks) +
                              " --master-addr 127.0.0.1 --master-port " + std::to_string(free_port()) + " " +
                              program_and_args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  output = read_file(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string lc_run_flags(const fs::path& out) {
  return "--dataset cora --data-root '" + graphmae2::testing::shared_datasets_dir().string() +
         "' --sampler lc --ego_size 32 --batch_size 256 --num_hidden 32 --num_heads 2 --max_epoch 2 "
         "--num_threads 1 --max_epoch_f 30 --no-progress --dist-timeout 120 --seeds 0 --out '" +
         out.string() + "'";
}

class Torchrun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(torchrun())) GTEST_SKIP() << "no torchrun at " << torchrun();
    if (!fs::exists(graphmae2::testing::shared_datasets_dir())) GTEST_SKIP() << "no shared datasets";
  }
};

TEST_F(Torchrun, TwoRanksPretrainLcOnCoraAndRankZeroWritesTheRun) {
  const auto dir = graphmae2::testing::scratch_dir("torchrun_lc");
  std::string output;
  const int code = launch(2, "'" + train_tool().string() + "' " + lc_run_flags(dir / "run"), dir, output);
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("rank 0 of 2 processes (gloo"), std::string::npos) << output;
  const auto result = nlohmann::json::parse(read_file(dir / "run" / "result.json"));
  EXPECT_EQ(result["world_size"], 2);
  EXPECT_EQ(result["backend"], "gloo");
  EXPECT_GT(result["mean"].get<double>(), 20.0);  // a probe ran on the embeddings (7 classes: chance is ~14%)
  EXPECT_NE(read_file(dir / "run" / "config.yaml").find("# world_size: 2 (backend gloo)"), std::string::npos);
  // One metrics line per epoch (rank 0's), not one per rank.
  std::ifstream metrics(dir / "run" / "seed0" / "metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(metrics, line);) ++lines;
  EXPECT_EQ(lines, 2);
}

TEST_F(Torchrun, TheFullSamplerOnTwoRanksIsRefused) {
  const auto dir = graphmae2::testing::scratch_dir("torchrun_full");
  std::string output;
  const int code = launch(2,
                          "'" + train_tool().string() + "' --dataset cora --data-root '" +
                              graphmae2::testing::shared_datasets_dir().string() + "' --max_epoch 1 --out '" +
                              (dir / "run").string() + "' --dist-timeout 60",
                          dir, output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("sampler full trains on the whole graph in one process"), std::string::npos) << output;
}

TEST_F(Torchrun, ARankLaunchedWithAnotherConfigIsRefusedOnEveryRank) {
  const auto dir = graphmae2::testing::scratch_dir("torchrun_mismatch");
  // torchrun starts the same command on every rank: a shell gives rank 1 another lr.
  const std::string script = "if [ \"$RANK\" = 1 ]; then extra='--lr 0.01'; fi; exec '" + train_tool().string() + "' " +
                             lc_run_flags(dir / "run") + " $extra";
  std::ofstream(dir / "launch.sh") << script << "\n";
  std::string output;
  const int code = launch(2, "bash '" + (dir / "launch.sh").string() + "'", dir, output);
  EXPECT_NE(code, 0) << output;
  EXPECT_NE(output.find("differs between the ranks: rank 1 of 2 disagrees with rank 0"), std::string::npos) << output;
}

}  // namespace
