#include "models/engine/metrics_log.h"

#include <stdexcept>

namespace graphmae2::models::engine {

MetricsLog::MetricsLog(std::filesystem::path path, int64_t keep_bytes) : path_(std::move(path)) {
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
  std::error_code ec;
  if (keep_bytes < 0) {
    std::filesystem::remove(path_, ec);
  } else if (std::filesystem::exists(path_) && static_cast<int64_t>(std::filesystem::file_size(path_)) > keep_bytes) {
    std::filesystem::resize_file(path_, static_cast<uintmax_t>(keep_bytes));
  }
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) throw std::runtime_error("metrics log " + path_.string() + ": cannot open for appending");
  bytes_ = std::filesystem::exists(path_) ? static_cast<int64_t>(std::filesystem::file_size(path_)) : 0;
}

void MetricsLog::write(const Json& record) {
  if (discards()) return;
  const std::string line = record.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  out_ << line;
  out_.flush();
  if (!out_) {
    throw std::runtime_error("metrics log " + path_.string() + ": writing " + std::to_string(line.size()) +
                             " bytes failed (disk full?)");
  }
  bytes_ += static_cast<int64_t>(line.size());
}

}  // namespace graphmae2::models::engine
