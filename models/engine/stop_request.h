#pragma once
// Stop requests for a running training loop. The library installs no signal handler: a program that wants
// Ctrl-C to checkpoint and stop installs its own and calls request_stop() from it (the tools do, through
// tools/common/tool_main.h; a Python binding would do the same from its interrupt check).

namespace graphmae2::models::engine {

/// Asks the running TrainingLoop to stop after its current step: it writes a checkpoint and throws
/// TrainingInterrupted. Async-signal-safe (lock-free atomics only).
/// Returns: true when a loop is running and this is the first request since it started; false otherwise (no loop
/// to take it, or a repeated request), in which case a signal handler should take the signal's default action.
bool request_stop() noexcept;

/// Returns: true when a stop was requested since the running loop started.
bool stop_requested() noexcept;

/// @brief Marks a loop as running for its lifetime (request_stop() is taken only while one is); clears the
/// requests of an earlier loop when it starts.
class RunningLoopScope {
 public:
  RunningLoopScope() noexcept;
  ~RunningLoopScope();
  RunningLoopScope(const RunningLoopScope&) = delete;
  RunningLoopScope& operator=(const RunningLoopScope&) = delete;
};

}  // namespace graphmae2::models::engine
