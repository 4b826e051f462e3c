#include "models/engine/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace graphmae2::models::engine {

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled, int64_t already_done)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      start_done_(already_done) {}

void ProgressBar::update(int64_t done, const std::string& status) {
  if (!enabled_ || total_ <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (start_done_ < 0) {
    start_done_ = done - 1;  // a resumed run starts counting from where it is
    start_ = now;
  }
  const int64_t decile = done * 10 / total_;
  const bool redraw =
      tty_ ? (now - last_draw_ > std::chrono::milliseconds(100) || done == total_) : (decile != last_decile_);
  if (!redraw) return;
  last_draw_ = now;
  last_decile_ = decile;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const int64_t steps = std::max<int64_t>(1, done - start_done_);
  const double per_step = elapsed / static_cast<double>(steps);
  const double eta = per_step * static_cast<double>(total_ - done);
  const int width = 20;
  const int filled = static_cast<int>(width * done / total_);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s %lld/%lld [%s%s] %s  %.3fs/it  ETA %.0fs", label_.c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), std::string(filled, '#').c_str(),
                std::string(width - filled, '-').c_str(), status.c_str(), per_step, eta);
  if (tty_) {
    std::cerr << "\r\033[K" << buf << std::flush;
  } else {
    std::cerr << buf << "\n";
  }
}

void ProgressBar::message(const std::string& text, std::ostream& out) {
  if (enabled_ && tty_) std::cerr << "\r\033[K" << std::flush;
  out << text << "\n" << std::flush;
}

void ProgressBar::finish() {
  if (enabled_ && tty_) std::cerr << "\n";
}

}  // namespace graphmae2::models::engine
