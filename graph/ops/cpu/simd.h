#pragma once
// Vector helpers shared by the CPU kernels of graph/ops. The library is built for baseline x86-64 (SSE2); hot
// row loops are also compiled for AVX2 + FMA (GRAPHMAE2_X86_DISPATCH) and chosen at run time with use_avx2_fma(),
// which honours the switch of graph/ops/simd.h. A build with CMake GRAPHMAE2_SIMD=OFF (GRAPHMAE2_NO_SIMD) compiles
// the baseline paths only.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "graph/ops/simd.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(GRAPHMAE2_NO_SIMD)
#define GRAPHMAE2_X86_DISPATCH 1
#endif

namespace graphmae2::graph::cpu {

#ifdef GRAPHMAE2_X86_DISPATCH
/// Whether the processor has AVX2 and FMA (the hardware alone; kernels ask use_avx2_fma()).
inline bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

/// Whether a kernel takes its AVX2 + FMA path: the processor has it and graph::simd_enabled().
inline bool use_avx2_fma() { return has_avx2_fma() && simd_enabled(); }
#endif

/// Asks for the cache lines of `bytes` bytes at p (a gathered feature row some edges ahead): a row is many lines,
/// and the hardware prefetchers do not follow an edge list, so without this each row's lines miss in turn.
[[gnu::always_inline]] inline void prefetch_row(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off);
}

/// How many edges ahead to prefetch rows of `row_bytes`: about 16 KiB in flight, 4 to 32 rows (a flat optimum
/// over that range; docs/performance.md).
inline int64_t row_prefetch_distance(int64_t row_bytes) {
  const int64_t rows = (int64_t{16} << 10) / (row_bytes > 0 ? row_bytes : 1);
  return rows < 4 ? 4 : (rows > 32 ? 32 : rows);
}

/// exp(x) in float by Cephes' expf polynomial, inlined where std::exp is a libm call per element (GCC keeps the
/// loop scalar: its range selects may trap). It vectorises only under -fno-trapping-math (as the library is
/// built): otherwise std::floor stays a libm call. Within 2 ulp of std::exp for x in [-87, 88]; 0 below -87.3 (where
/// expf goes subnormal), +inf above 88.7, NaN stays NaN.
[[gnu::always_inline]] inline float polynomial_expf(float x) {
  // NaN fails both compares and goes to a bound, so the integer conversion below is always defined; NaN is put
  // back at the end.
  const float low = x > -87.0f ? x : -87.0f;
  const float clamped = low < 88.0f ? low : 88.0f;
  const float k = std::floor(clamped * 1.44269504088896341f + 0.5f);
  const float r = (clamped - k * 0.693359375f) - k * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int32_t exponent_bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &exponent_bits, sizeof scale);
  float result = y * scale;
  result = x < -87.3f ? 0.0f : result;
  result = x > 88.7f ? std::numeric_limits<float>::infinity() : result;
  return x != x ? x : result;
}

/// out[i] = exp(in[i]) for i < n (in == out allowed): polynomial_expf for float, std::exp for double.
template <typename T>
[[gnu::always_inline]] inline void exp_all(const T* in, T* out, int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t i = 0; i < n; ++i) out[i] = polynomial_expf(in[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = std::exp(in[i]);
  }
}

/// <p, q> over n entries. Eight partial sums let the compiler vectorise it without reassociating a single sum.
template <typename T>
[[gnu::always_inline]] inline T dot(const T* __restrict p, const T* __restrict q, int64_t n) {
  T acc[8] = {};
  int64_t f = 0;
  for (; f + 8 <= n; f += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += p[f + k] * q[f + k];
  }
  for (; f < n; ++f) acc[0] += p[f] * q[f];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace graphmae2::graph::cpu
