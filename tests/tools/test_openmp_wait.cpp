// exec_with_short_openmp_spin: this test binary spawns itself running a disabled child test that calls it and
// records, per process image, that it started and the GOMP_SPINCOUNT it saw.

#include "tools/common/tool_main.h"

#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

constexpr const char* kReportVariable = "GRAPHMAE2_OPENMP_WAIT_REPORT";

// Runs the child test in a new process with `env` added to this environment minus the two OpenMP variables;
// returns what the child's process images wrote.
std::string run_child(const std::vector<std::string>& env) {
  const auto report = std::filesystem::temp_directory_path() / ("openmp_wait_" + std::to_string(::getpid()));
  std::filesystem::remove(report);
  std::vector<std::string> strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("OMP_WAIT_POLICY=", 0) != 0 && entry.rfind("GOMP_SPINCOUNT=", 0) != 0) strings.push_back(entry);
  }
  strings.push_back(std::string(kReportVariable) + "=" + report.string());
  for (const auto& e : env) strings.push_back(e);
  std::vector<char*> envp;
  for (auto& s : strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = "test_tools", filter = "--gtest_filter=OpenMpWait.DISABLED_ChildReportsItsSpinCount",
              also = "--gtest_also_run_disabled_tests";
  char* argv[] = {self.data(), filter.data(), also.data(), nullptr};
  pid_t pid = 0;
  EXPECT_EQ(::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()), 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  std::ifstream in(report);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(report);
  return text.str();
}

}  // namespace

TEST(OpenMpWait, DISABLED_ChildReportsItsSpinCount) {
  const char* report = std::getenv(kReportVariable);
  if (report == nullptr) GTEST_SKIP() << "run by OpenMpWait.* only";
  {
    std::ofstream out(report, std::ios::app);
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    out << "start " << (spin != nullptr ? spin : "unset") << "\n";
  }
  // Kept for the exec: gtest's own argv is not at hand here, the filter is what the parent passed.
  std::string self = "test_tools", filter = "--gtest_filter=OpenMpWait.DISABLED_ChildReportsItsSpinCount",
              also = "--gtest_also_run_disabled_tests";
  char* argv[] = {self.data(), filter.data(), also.data(), nullptr};
  graphmae2::tools::exec_with_short_openmp_spin(argv);
}

TEST(OpenMpWait, ExecutesOnceWithAShortSpinWhenTheUserSetNeither) {
  EXPECT_EQ(run_child({}), std::string("start unset\nstart ") + graphmae2::tools::kShortGompSpinCount + "\n");
}

TEST(OpenMpWait, LeavesTheUsersChoiceAlone) {
  EXPECT_EQ(run_child({"GOMP_SPINCOUNT=50"}), "start 50\n");
  EXPECT_EQ(run_child({"OMP_WAIT_POLICY=PASSIVE"}), "start unset\n");
}
