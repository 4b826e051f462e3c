#include "tools/common/tool_main.h"

#include "models/engine/cli.h"
#include "models/engine/diagnostics.h"
#include "models/engine/loop.h"
#include "models/engine/stop_request.h"

#include <c10/util/Exception.h>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

namespace graphmae2::tools {

namespace engine = models::engine;

namespace {

extern "C" void on_stop_signal(int signal_number) {
  if (engine::request_stop()) return;
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int report(const std::string& name, const std::string& what, int code) {
  std::cerr << name << ": " << what << "\n";
  return code;
}

}  // namespace

int run_tool(const std::string& name, const std::string& usage, const std::function<int()>& body) {
  install_stop_handlers();
  try {
    return body();
  } catch (const engine::UsageError& e) {
    std::cerr << name << ": " << e.what() << "\n\n" << usage;
    return kExitUsage;
  } catch (const std::invalid_argument& e) {
    return report(name, std::string("error: ") + e.what(), kExitUsage);
  } catch (const engine::TrainingInterrupted& e) {
    std::cerr << "\n" << e.what() << std::endl;
    return kExitInterrupted;
  } catch (const engine::TrainingDiverged& e) {
    return report(name, std::string("training diverged: ") + e.what(), kExitDiverged);
  } catch (const engine::CollapseDetected& e) {
    return report(name, e.what(), kExitCollapse);
  } catch (const c10::Error& e) {
    return report(name, std::string("error: ") + e.what_without_backtrace(), kExitFailure);
  } catch (const std::exception& e) {
    return report(name, std::string("error: ") + e.what(), kExitFailure);
  }
}

engine::LogSink console_log() {
  return [](engine::LogLevel level, const std::string& line) {
    if (level == engine::LogLevel::warning) {
      std::cerr << "\n" << line << "\n";
    } else {
      std::cout << line << std::endl;
    }
  };
}

std::shared_ptr<engine::ProcessGroup> join_launch_group(const std::string& tool, double timeout_seconds) {
  const auto launch = engine::LaunchEnvironment::from_process();
  if (!launch) return nullptr;
  if (!(timeout_seconds > 0)) throw std::invalid_argument("the collectives' timeout must be > 0 s");
  engine::DistributedOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(1000.0 * timeout_seconds));
  auto group = engine::ProcessGroup::join(*launch, options);
  if (group->is_main()) {
    std::cout << tool << ": rank 0 of " << group->world_size() << " processes (" << group->backend() << ", store "
              << launch->master_addr << ":" << launch->master_port << ", restart " << launch->restart_count << ")"
              << std::endl;
  }
  return group;
}

engine::LogSink console_log(const engine::ProcessGroup* group) {
  if (group == nullptr || group->is_main()) return console_log();
  const std::string prefix = "rank " + std::to_string(group->rank()) + ": ";
  return [prefix](engine::LogLevel level, const std::string& line) {
    if (level == engine::LogLevel::warning) std::cerr << "\n" << prefix << line << "\n";
  };
}

void exec_with_short_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("GOMP_SPINCOUNT", kShortGompSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Only reached when the exec failed: run on with libgomp's default spinning.
  ::unsetenv("GOMP_SPINCOUNT");
}

}  // namespace graphmae2::tools
