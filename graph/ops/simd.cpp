#include "graph/ops/simd.h"

#include "graph/ops/cpu/simd.h"

#include <atomic>

namespace graphmae2::graph {

namespace {

// Constant-initialised: nothing is read from the environment at static-initialisation time.
std::atomic<bool> enabled{true};

}  // namespace

void set_simd_enabled(bool on) { enabled.store(on, std::memory_order_relaxed); }

bool simd_enabled() { return simd_built() && enabled.load(std::memory_order_relaxed); }

bool simd_built() {
#ifdef GRAPHMAE2_X86_DISPATCH
  return true;
#else
  return false;
#endif
}

}  // namespace graphmae2::graph
