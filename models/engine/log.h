#pragma once
// Where a library run's messages go. The library never prints: a run takes a sink in its options and the
// program decides (the tools print info lines on stdout and warnings on stderr).

#include <functional>
#include <string>

namespace graphmae2::models::engine {

enum class LogLevel { info, warning };

/// One message, one line without its newline; empty: the messages are dropped.
using LogSink = std::function<void(LogLevel level, const std::string& line)>;

inline void log_info(const LogSink& sink, const std::string& line) {
  if (sink) sink(LogLevel::info, line);
}

inline void log_warning(const LogSink& sink, const std::string& line) {
  if (sink) sink(LogLevel::warning, line);
}

}  // namespace graphmae2::models::engine
