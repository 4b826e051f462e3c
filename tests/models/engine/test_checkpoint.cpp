// Checkpoint and metrics files under damage and failed writes: a bit flipped in a stored weight is refused on
// load (LibTorch's own reader skips the records' CRC-32); a full disk is an error naming the file, never an abort
// or a silently cut file.

#include "fixtures/paths.h"
#include "models/engine/checkpoint.h"
#include "models/engine/metrics_log.h"
#include "util/zip_integrity.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <cstring>
#include <functional>
#include <fstream>
#include <iterator>
#include <vector>

namespace engine = graphmae2::models::engine;

namespace {

std::vector<char> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::filesystem::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs fn() under a file size limit of `bytes` (writes past it fail with EFBIG; SIGXFSZ ignored meanwhile): a full
// disk without a full disk. Returns the message of the std::runtime_error fn threw ("" if none).
std::string message_under_file_size_limit(rlim_t bytes, const std::function<void()>& fn) {
  rlimit old_limit{};
  EXPECT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = bytes;
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    fn();
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  return message;
}

}  // namespace

TEST(Checkpoint, AFlippedBitInAStoredWeightIsRefusedNamingTheRecord) {
  const auto dir = graphmae2::testing::scratch_dir("checkpoint-integrity");
  torch::nn::Linear model(4, 3);
  {
    torch::NoGradGuard no_grad;
    model->weight.fill_(1234.5f);  // a value whose bytes can be found in the file
  }
  engine::CheckpointState state;
  state.model = "linear";
  const auto path = dir / "checkpoint.pt";
  engine::save_checkpoint(path, *model, nullptr, state);
  torch::nn::Linear loaded(4, 3);
  EXPECT_NO_THROW(engine::load_checkpoint(path, "linear", *loaded, nullptr));
  EXPECT_TRUE(torch::equal(loaded->weight, model->weight));

  auto bytes = read_bytes(path);
  const float needle = 1234.5f;
  char pattern[sizeof needle];
  std::memcpy(pattern, &needle, sizeof needle);
  const auto at = std::search(bytes.begin(), bytes.end(), pattern, pattern + sizeof needle);
  ASSERT_NE(at, bytes.end()) << "the weight's bytes are not in the file";
  *at ^= 0x01;  // the lowest mantissa bit of one weight
  const auto damaged = dir / "damaged.pt";
  write_bytes(damaged, bytes);
  for (const auto& check :
       {std::function<void()>([&] { engine::load_checkpoint(damaged, "linear", *loaded, nullptr); }),
        std::function<void()>([&] { engine::read_checkpoint_state(damaged, "linear"); })}) {
    try {
      check();
      ADD_FAILURE() << "the damaged checkpoint was accepted";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("damaged.pt' is damaged: record '"), std::string::npos) << msg;
      EXPECT_NE(msg.find("fails its CRC-32 check"), std::string::npos) << msg;
    }
  }
  // What was loaded before stays: the check runs before any tensor is replaced.
  EXPECT_TRUE(torch::equal(loaded->weight, model->weight));
}

TEST(Checkpoint, ATruncatedOrForeignFileIsRefused) {
  const auto dir = graphmae2::testing::scratch_dir("checkpoint-truncated");
  torch::nn::Linear model(4, 3);
  engine::CheckpointState state;
  state.model = "linear";
  const auto path = dir / "checkpoint.pt";
  engine::save_checkpoint(path, *model, nullptr, state);
  auto bytes = read_bytes(path);
  bytes.resize(bytes.size() / 2);
  write_bytes(dir / "half.pt", bytes);
  write_bytes(dir / "text.pt", std::vector<char>{'n', 'o', 't', ' ', 'z', 'i', 'p'});
  for (const char* name : {"half.pt", "text.pt"}) {
    try {
      graphmae2::util::verify_zip_checksums(dir / name, "checkpoint");
      ADD_FAILURE() << name << " was accepted";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(Checkpoint, AFailedWriteThrowsNamingTheFileAndKeepsThePreviousCheckpoint) {
  // A full disk, simulated by a file size limit: writes past it fail with EFBIG (SIGXFSZ ignored meanwhile).
  const auto dir = graphmae2::testing::scratch_dir("checkpoint-full-disk");
  torch::nn::Linear model(64, 64);
  engine::CheckpointState state;
  state.model = "linear";
  const auto path = dir / "checkpoint.pt";
  engine::save_checkpoint(path, *model, nullptr, state);
  const auto before = read_bytes(path);
  {
    torch::NoGradGuard no_grad;
    model->weight.add_(1.0);
  }
  // The checkpoint is about 17 KB.
  const auto message =
      message_under_file_size_limit(4096, [&] { engine::save_checkpoint(path, *model, nullptr, state); });
  EXPECT_NE(message.find("cannot write " + path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("free in"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(path), before) << "the previous checkpoint changed";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename(), "checkpoint.pt") << "left behind: " << entry.path();
  }
}

TEST(MetricsLog, AFailedWriteThrowsNamingTheFile) {
  // Issue 14 class 2: a metrics line that cannot be written stops the run with the file's name (same simulated
  // full disk as above), never a silently cut line.
  const auto dir = graphmae2::testing::scratch_dir("metrics-full-disk");
  engine::MetricsLog log(dir / "metrics.jsonl", -1);
  log.write(engine::Json{{"epoch", 0}});
  const auto message = message_under_file_size_limit(static_cast<rlim_t>(log.bytes()) + 8, [&] {
    log.write(engine::Json{{"epoch", 1}, {"loss", 0.5}, {"note", std::string(64, 'x')}});
  });
  EXPECT_NE(message.find("metrics.jsonl: writing"), std::string::npos) << message;
}
