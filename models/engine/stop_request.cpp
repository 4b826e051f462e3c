#include "models/engine/stop_request.h"

#include <atomic>

namespace graphmae2::models::engine {

namespace {

// A signal handler may only touch lock-free atomics.
std::atomic<int> running_loops{0};
std::atomic<int> stop_requests{0};
static_assert(std::atomic<int>::is_always_lock_free);

}  // namespace

bool request_stop() noexcept {
  if (running_loops.load() == 0) return false;
  return stop_requests.fetch_add(1) == 0;
}

bool stop_requested() noexcept { return stop_requests.load() > 0; }

RunningLoopScope::RunningLoopScope() noexcept {
  stop_requests = 0;
  running_loops.fetch_add(1);
}

RunningLoopScope::~RunningLoopScope() { running_loops.fetch_sub(1); }

}  // namespace graphmae2::models::engine
