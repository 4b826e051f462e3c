#pragma once
// Many Philox4x32-10 blocks at once on the CPU (graph/ops/philox.h draws one): the dropout kernels' random bits,
// 16 blocks per AVX-512 vector or 8 per AVX2 vector where the processor has them. GCC leaves philox4x32's
// 32 x 32 -> 64-bit products scalar, which made the draws most of the dropout kernels' time.

#include <cstdint>

namespace graphmae2::graph::cpu {

/// For k in [0, n): words[w][k] = word w of philox4x32 of the counter (index0 + k * stride, offset) under the key
/// seed, as philox_edge_bits forms it (index in the low 64 bits, offset in the high). words[w] holds n entries.
/// The same bits on every path: the SIMD clones run only while graph::simd_enabled() (graph/ops/simd.h).
void philox_words(uint64_t index0, uint64_t stride, int64_t n, uint64_t seed, uint64_t offset,
                  uint32_t* const words[4]);

}  // namespace graphmae2::graph::cpu
