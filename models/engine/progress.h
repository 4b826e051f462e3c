#pragma once
// A one-line progress bar for long loops: redrawn in place on a terminal, a line every 10% otherwise.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace graphmae2::models::engine {

/// @brief Prints "label  done/total [#####-----] <status>  s/it  ETA" to stderr; one bar for every loop.
class ProgressBar {
 public:
  /// `already_done`: the units done before this bar started (0 for fresh work, e.g. chunked work whose first
  /// update covers many units); -1: unknown, the first update is taken as one unit (a resumed training loop).
  ProgressBar(std::string label, int64_t total, bool enabled = true, int64_t already_done = -1);
  /// Marks `done` steps complete and shows `status` (e.g. the loss terms).
  void update(int64_t done, const std::string& status);
  /// Prints a line of its own (a warning, an epoch summary) to `out` without breaking the bar.
  void message(const std::string& text, std::ostream& out = std::cerr);
  /// Ends the line.
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, tty_;
  int64_t last_decile_ = -1;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  int64_t start_done_ = -1;
};

}  // namespace graphmae2::models::engine
