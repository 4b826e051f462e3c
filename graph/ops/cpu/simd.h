#pragma once
// Vector helpers shared by the CPU kernels of graph/ops. The library is built for baseline x86-64 (SSE2); hot
// row loops are also compiled for AVX2 + FMA (GRAPHMAE2_X86_DISPATCH) and chosen at run time with has_avx2_fma()
// (about 1.5x faster on the Cora-sized spmm forward, benchmarks/graph/bench_ops.cpp).

#include <cstdint>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define GRAPHMAE2_X86_DISPATCH 1
#endif

namespace graphmae2::graph::cpu {

#ifdef GRAPHMAE2_X86_DISPATCH
inline bool has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

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
