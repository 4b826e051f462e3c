#include "models/engine/matmul_precision.h"

#include <c10/util/Exception.h>

namespace graphmae2::models::engine {

namespace {

const char* name_of(at::Float32MatmulPrecision precision) {
  switch (precision) {
    case at::Float32MatmulPrecision::HIGH:
      return "high";
    case at::Float32MatmulPrecision::MEDIUM:
      return "medium";
    case at::Float32MatmulPrecision::HIGHEST:
      break;
  }
  return "highest";
}

}  // namespace

Float32MatmulPrecisionScope::Float32MatmulPrecisionScope(const std::string& precision)
    : previous_(at::globalContext().float32MatmulPrecision()) {
  TORCH_CHECK(precision == "highest" || precision == "high" || precision == "medium",
              "matmul precision must be highest, high or medium, got '", precision, "'");
  at::globalContext().setFloat32MatmulPrecision(precision);
}

Float32MatmulPrecisionScope::~Float32MatmulPrecisionScope() {
  at::globalContext().setFloat32MatmulPrecision(name_of(previous_));
}

}  // namespace graphmae2::models::engine
