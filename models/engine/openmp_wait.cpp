#include "models/engine/openmp_wait.h"

#include <cstdlib>
#include <unistd.h>

namespace graphmae2::models::engine {

void exec_with_short_openmp_spin(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
  if (::setenv("GOMP_SPINCOUNT", kDefaultGompSpinCount, 1) != 0) return;
  ::execv("/proc/self/exe", argv);
  // Only reached when the exec failed: run on with libgomp's default spinning.
  ::unsetenv("GOMP_SPINCOUNT");
}

}  // namespace graphmae2::models::engine
