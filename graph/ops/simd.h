#pragma once
// The one switch of the CPU kernels' SIMD paths: the AVX2 + FMA and AVX-512 clones in graph/ops/cpu/, chosen at run
// time where the processor has them. Off, each kernel runs its baseline-compiled (scalar) path; the results are
// the same up to rounding (FMA contraction), bit for bit where a kernel's header says so.

namespace graphmae2::graph {

/// Turns the SIMD paths of every CPU kernel of graph/ops on (the default) or off, for the whole process, from the
/// next kernel call on. Not meant to be flipped while kernels run on other threads (those may take either path).
void set_simd_enabled(bool enabled);

/// Whether the kernels take their SIMD paths: set_simd_enabled's last value (true unless it was called), and
/// always false in a build without them (CMake GRAPHMAE2_SIMD=OFF, or not an x86-64 GCC/Clang build).
bool simd_enabled();

/// Whether this build has SIMD paths at all (then set_simd_enabled(false) changes which code runs).
bool simd_built();

/// @brief Sets the switch for a scope and restores its previous value on exit (tests that run both paths).
class SimdScope {
 public:
  explicit SimdScope(bool enabled) : previous_(simd_enabled()) { set_simd_enabled(enabled); }
  ~SimdScope() { set_simd_enabled(previous_); }
  SimdScope(const SimdScope&) = delete;
  SimdScope& operator=(const SimdScope&) = delete;

 private:
  bool previous_;
};

}  // namespace graphmae2::graph
