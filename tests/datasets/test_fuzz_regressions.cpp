// Every input the fuzzers ever crashed on (tests/fixtures/fuzz/<target>/) runs through the same target code in
// the normal build: it must be refused with a named std::runtime_error, nothing else escaping.

#include "fuzz/fuzz_input.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const std::map<std::string, std::function<void(const uint8_t*, size_t)>>& targets() {
  static const std::map<std::string, std::function<void(const uint8_t*, size_t)>> all = {
      {"pickle", graphmae2::fuzz::pickle_input},
      {"csv", graphmae2::fuzz::csv_input},
      {"npz", graphmae2::fuzz::npz_input},
      {"ogb", graphmae2::fuzz::ogb_input},
      {"hdf5", graphmae2::fuzz::hdf5_input}};
  return all;
}

TEST(FuzzRegressions, EveryKeptCrashInputIsRefusedCleanly) {
  const fs::path root = fs::path(GRAPHMAE2_SOURCE_DIR) / "tests/fixtures/fuzz";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  int inputs = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const auto target = targets().find(dir.path().filename().string());
    ASSERT_NE(target, targets().end()) << "no fuzz target named " << dir.path().filename();
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      SCOPED_TRACE(entry.path().string());
      EXPECT_NO_THROW(target->second(bytes.data(), bytes.size()));
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 0) << "tests/fixtures/fuzz holds no inputs";
}

// The structured targets decode their input: an empty input and one of all-0xff bytes are legal inputs too.
TEST(FuzzRegressions, StructuredTargetsAcceptAnyBytes) {
  const std::vector<uint8_t> empty, ones(4096, 0xff);
  for (const auto& [name, run] : targets()) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(run(empty.data(), empty.size()));
    EXPECT_NO_THROW(run(ones.data(), ones.size()));
  }
}

}  // namespace
