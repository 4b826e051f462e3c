#pragma once
// What every graphmae2 command-line tool shares: the exit-code contract, Ctrl-C handling, where the library's
// messages go, and libgomp's spin setting. Process-wide choices live here, in the programs, never in the library.

#include "models/engine/distributed.h"
#include "models/engine/log.h"

#include <functional>
#include <string>

namespace graphmae2::tools {

/// The exit codes of every tool (docs/reliability.md).
enum ExitCode : int {
  kExitDone = 0,
  kExitFailure = 1,       ///< data, I/O or any other runtime failure
  kExitUsage = 2,         ///< a bad command line, config or input the user can fix
  kExitDiverged = 3,      ///< training stopped on a NaN/inf loss (engine::TrainingDiverged)
  kExitCollapse = 4,      ///< a collapse flag with on_collapse stop (engine::CollapseDetected)
  kExitInterrupted = 130  ///< Ctrl-C / SIGTERM: the loop checkpointed and stopped (engine::TrainingInterrupted)
};

/// Runs `body` as the main of tool `name` and returns its exit code. Installs SIGINT/SIGTERM handlers that ask a
/// running training loop to stop after its step (a signal with no loop running, or a second one, takes the
/// default action), and turns what `body` throws into one message on stderr prefixed by `name` and the code
/// above; a UsageError is followed by `usage`.
int run_tool(const std::string& name, const std::string& usage, const std::function<int()>& body);

/// The sink tools give the library: info lines on stdout, warnings on stderr on a line of their own.
models::engine::LogSink console_log();

/// Under torchrun (RANK and WORLD_SIZE set): joins the launch's process group, with collectives that wait at most
/// `timeout_seconds` for the other ranks, and says so on rank 0. Without those variables: null (one process).
std::shared_ptr<models::engine::ProcessGroup> join_launch_group(const std::string& tool, double timeout_seconds);

/// console_log() on rank 0 (or without a group); on the other ranks only the warnings, prefixed by the rank.
models::engine::LogSink console_log(const models::engine::ProcessGroup* group);

/// The spin count the tools run with when the user set neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT.
inline constexpr const char* kShortGompSpinCount = "1000";

/// When neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT to a short spin and executes this
/// program again (/proc/self/exe, same arguments), because libgomp reads it once when it loads, before main: its
/// default spinning takes the cores that other processes on a shared machine need. Call it first in main, before
/// any output. Returns, changing nothing, when either variable is set or the exec fails.
void exec_with_short_openmp_spin(char** argv);

}  // namespace graphmae2::tools
