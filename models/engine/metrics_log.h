#pragma once
// The metrics log of every run: one JSON object per line (JSONL), readable with pandas.read_json(lines=True).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>

namespace graphmae2::models::engine {

/// A metrics record: keys keep the order they were set in; NaN and infinities are written as null.
using Json = nlohmann::ordered_json;

/// @brief Appends records to a JSONL file; every write is checked and flushed, so a full disk is an error
/// naming the file, never silently lost lines.
class MetricsLog {
 public:
  /// Opens `path` for appending. `keep_bytes` >= 0 first cuts the file to that size (a resumed run drops what
  /// was written after its checkpoint; a shorter file is kept as it is); -1 starts a new, empty file.
  MetricsLog(std::filesystem::path path, int64_t keep_bytes);
  /// A log that discards what it is given (the ranks other than 0 of a multi-process run).
  MetricsLog() = default;
  /// Writes `record` as one line (nothing for a discarding log).
  void write(const Json& record);
  /// Bytes in the file so far (stored in checkpoints, see keep_bytes).
  int64_t bytes() const { return bytes_; }
  const std::filesystem::path& path() const { return path_; }
  bool discards() const { return path_.empty(); }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  int64_t bytes_ = 0;
};

}  // namespace graphmae2::models::engine
