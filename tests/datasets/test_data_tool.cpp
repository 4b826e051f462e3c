// graphmae2-data end to end: output words, exit codes on bad input and bad usage.

#include "fixtures/paths.h"

#include "datasets/ego_graphs_h5.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <regex>
#include <sys/wait.h>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;
using graphmae2::testing::scratch_dir;
using graphmae2::testing::shared_datasets_dir;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Result run_tool(const std::string& args) {
  const fs::path tool = fs::path(GRAPHMAE2_BINARY_DIR) / "bin" / "graphmae2-data";
  Result r;
  if (!fs::exists(tool)) return r;
  FILE* p = ::popen((tool.string() + " " + args + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool has_word(const std::string& text, const std::string& word) {
  return std::regex_search(text, std::regex("(^|[^0-9A-Za-z])" + word + "([^0-9A-Za-z]|$)"));
}

#define REQUIRE_TOOL()                                                          \
  if (!fs::exists(fs::path(GRAPHMAE2_BINARY_DIR) / "bin" / "graphmae2-data")) { \
    GTEST_SKIP() << "graphmae2-data is not built in this tree";                 \
  }

TEST(DataTool, InspectCoraPrintsReadmeFacts) {
  REQUIRE_TOOL();
  auto r = run_tool("inspect cora --data-root " + shared_datasets_dir().string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* w : {"2708", "1433", "7", "10556", "140", "500", "1000"})
    EXPECT_TRUE(has_word(r.out, w)) << w << "\n" << r.out;
}

TEST(DataTool, ConvertThenInspectTheCache) {
  REQUIRE_TOOL();
  const auto out = scratch_dir("tool_convert") / "citeseer.h5";
  auto r = run_tool("convert citeseer " + out.string() + " --data-root " + shared_datasets_dir().string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run_tool("inspect " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* w : {"3327", "3703", "6", "9104"}) EXPECT_TRUE(has_word(r.out, w)) << w << "\n" << r.out;
}

TEST(DataTool, TruncatedFileIsACleanErrorNamingIt) {
  REQUIRE_TOOL();
  const auto root = scratch_dir("tool_truncated");
  fs::create_directories(root / "planetoid");
  for (const auto& e : fs::directory_iterator(shared_datasets_dir() / "planetoid")) {
    if (e.path().filename().string().rfind("ind.cora.", 0) == 0)
      fs::copy_file(e.path(), root / "planetoid" / e.path().filename());
  }
  const auto allx = root / "planetoid" / "ind.cora.allx";
  fs::permissions(allx, fs::perms::owner_write, fs::perm_options::add);
  fs::resize_file(allx, fs::file_size(allx) - 1);
  auto r = run_tool("inspect cora --data-root " + root.string());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(allx.string() + ": byte"), std::string::npos) << r.out;
}

TEST(DataTool, BadUsageExitsTwo) {
  REQUIRE_TOOL();
  EXPECT_EQ(run_tool("").code, 2);
  EXPECT_EQ(run_tool("inspect").code, 2);
  EXPECT_EQ(run_tool("frobnicate cora").code, 2);
  EXPECT_EQ(run_tool("inspect cora --bogus").code, 2);
  EXPECT_EQ(run_tool("inspect no-such-dataset --data-root " + scratch_dir("tool_empty").string()).code, 1);
}

TEST(DataTool, LocalClusteringWritesTheEgoGraphFile) {
  REQUIRE_TOOL();
  const auto out = scratch_dir("tool_lc") / "cora-lc.h5";
  auto r = run_tool("lc cora --ego-size 32 --seeds split --threads 2 --no-progress --out " + out.string() +
                    " --data-root " + shared_datasets_dir().string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("seeds/s"), std::string::npos) << r.out;
  const auto file = load_ego_graphs_h5(out);
  EXPECT_EQ(file.egos.size(), 140 + 500 + 1000) << "train, valid and test seeds";
  EXPECT_EQ(file.options.ego_size, 32);
  EXPECT_EQ(file.graph.num_nodes, 2708);
  EXPECT_EQ(file.graph.num_edges, 10556 + 2708) << "bidirected, one self-loop per node";
  EXPECT_EQ(file.dataset, "cora");
  // Bad lc usage: exit 2 naming the flag.
  r = run_tool("lc cora --ego-size 0 --out " + out.string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.out.find("--ego-size must be an integer >= 1, got '0'"), std::string::npos) << r.out;
  EXPECT_EQ(run_tool("lc cora --seeds some --out " + out.string()).code, 2);
  EXPECT_EQ(run_tool("lc cora").code, 2);
  EXPECT_EQ(run_tool("inspect cora --ego-size 3").code, 2);
}

}  // namespace
}  // namespace graphmae2::datasets
