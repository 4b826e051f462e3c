#pragma once
// The float32 matrix-product precision for a scope (LibTorch's process-wide setting), restored when it ends.

#include <ATen/Context.h>

#include <string>

namespace graphmae2::models::engine {

/// Sets at::globalContext()'s float32 matmul precision ("highest", "high" or "medium") for this object's lifetime,
/// then puts back the one before. "high" allows TF32 on CUDA; "medium" also bfloat16 products through oneDNN on
/// CPUs LibTorch's check accepts (AVX-512 BW/VL/DQ or AVX-NE-CONVERT; fast with AMX). Not thread-safe against
/// another thread changing the same setting.
class Float32MatmulPrecisionScope {
 public:
  explicit Float32MatmulPrecisionScope(const std::string& precision);
  ~Float32MatmulPrecisionScope();
  Float32MatmulPrecisionScope(const Float32MatmulPrecisionScope&) = delete;
  Float32MatmulPrecisionScope& operator=(const Float32MatmulPrecisionScope&) = delete;

 private:
  at::Float32MatmulPrecision previous_;
};

}  // namespace graphmae2::models::engine
