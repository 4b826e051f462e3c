#include "graph/ops/cpu/philox_words.h"

#include "graph/ops/cpu/simd.h"
#include "graph/ops/philox.h"

#ifdef GRAPHMAE2_X86_DISPATCH
#include <immintrin.h>
#endif

namespace graphmae2::graph::cpu {

namespace {

void philox_words_scalar(uint64_t index0, uint64_t stride, int64_t begin, int64_t n, uint64_t seed, uint64_t offset,
                         uint32_t* const words[4]) {
  for (int64_t k = begin; k < n; ++k) {
    const uint64_t index = index0 + static_cast<uint64_t>(k) * stride;
    const auto bits = philox4x32(Philox4x32{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                                             static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}},
                                 static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
    for (int w = 0; w < 4; ++w) words[w][k] = bits.v[w];
  }
}

#ifdef GRAPHMAE2_X86_DISPATCH
// One vector width's instructions for philox_words_simd: 8 blocks per AVX2 vector, 16 per AVX-512 vector. Vectors
// go by reference: philox_words_simd itself carries no target, and a vector passed by value across that boundary
// would change the calling convention. multiply_wide gives the 64-bit products a * m of every lane as their low and
// high 32-bit halves (vpmuludq takes the even lanes, so the odd ones go through a shift).
struct Avx2Lanes {
  using Vec = __m256i;
  static constexpr int kLanes = 8;
  [[gnu::target("avx2,fma")]] static inline void broadcast(Vec& v, uint32_t x) {
    v = _mm256_set1_epi32(static_cast<int32_t>(x));
  }
  [[gnu::target("avx2,fma")]] static inline void load(Vec& v, const uint32_t* p) {
    v = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  }
  [[gnu::target("avx2,fma")]] static inline void store(uint32_t* p, const Vec& v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
  }
  // out = a ^ b ^ broadcast(key)
  [[gnu::target("avx2,fma")]] static inline void mix(Vec& out, const Vec& a, const Vec& b, uint32_t key) {
    out = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_set1_epi32(static_cast<int32_t>(key)));
  }
  [[gnu::target("avx2,fma")]] static inline void multiply_wide(const Vec& a, const Vec& m, Vec& lo, Vec& hi) {
    const Vec even = _mm256_mul_epu32(a, m);
    const Vec odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  }
};

// GCC 12 flags the AVX-512 intrinsics' own undefined-vector placeholder (_mm512_undefined_epi32, their unused
// merge operand) as maybe uninitialized once they are flattened into the wrapper: a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct Avx512Lanes {
  using Vec = __m512i;
  static constexpr int kLanes = 16;
  [[gnu::target("avx512f")]] static inline void broadcast(Vec& v, uint32_t x) {
    v = _mm512_set1_epi32(static_cast<int32_t>(x));
  }
  [[gnu::target("avx512f")]] static inline void load(Vec& v, const uint32_t* p) { v = _mm512_load_si512(p); }
  [[gnu::target("avx512f")]] static inline void store(uint32_t* p, const Vec& v) { _mm512_storeu_si512(p, v); }
  [[gnu::target("avx512f")]] static inline void mix(Vec& out, const Vec& a, const Vec& b, uint32_t key) {
    out = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_set1_epi32(static_cast<int32_t>(key)));
  }
  [[gnu::target("avx512f")]] static inline void multiply_wide(const Vec& a, const Vec& m, Vec& lo, Vec& hi) {
    const Vec even = _mm512_mul_epu32(a, m);
    const Vec odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
  }
};

// philox4x32-10 on L::kLanes blocks per vector. Returns the number of blocks done (a multiple of kLanes); the caller
// finishes the rest. The wrappers below carry each width's target and flatten this (and L's members) into
// themselves: GCC refuses to inline target-specific members into a template that has no target of its own.
template <typename L>
inline int64_t philox_words_simd(uint64_t index0, uint64_t stride, int64_t n, uint64_t seed, uint64_t offset,
                                 uint32_t* const words[4]) {
  using Vec = typename L::Vec;
  constexpr int kLanes = L::kLanes;
  Vec mul0, mul1, offset_lo, offset_hi;
  L::broadcast(mul0, 0xD2511F53u);
  L::broadcast(mul1, 0xCD9E8D57u);
  L::broadcast(offset_lo, static_cast<uint32_t>(offset));
  L::broadcast(offset_hi, static_cast<uint32_t>(offset >> 32));
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    alignas(64) uint32_t lo[kLanes], hi[kLanes];
    for (int lane = 0; lane < kLanes; ++lane) {
      const uint64_t index = index0 + static_cast<uint64_t>(k + lane) * stride;
      lo[lane] = static_cast<uint32_t>(index);
      hi[lane] = static_cast<uint32_t>(index >> 32);
    }
    Vec c0, c1, c2 = offset_lo, c3 = offset_hi;
    L::load(c0, lo);
    L::load(c1, hi);
    uint32_t key0 = static_cast<uint32_t>(seed), key1 = static_cast<uint32_t>(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      Vec lo0, hi0, lo1, hi1;
      L::multiply_wide(c0, mul0, lo0, hi0);
      L::multiply_wide(c2, mul1, lo1, hi1);
      L::mix(c0, hi1, c1, key0);
      L::mix(c2, hi0, c3, key1);
      c1 = lo1;
      c3 = lo0;
      key0 += 0x9E3779B9u;
      key1 += 0xBB67AE85u;
    }
    L::store(words[0] + k, c0);
    L::store(words[1] + k, c1);
    L::store(words[2] + k, c2);
    L::store(words[3] + k, c3);
  }
  return k;
}

[[gnu::target("avx2,fma"), gnu::flatten]] int64_t philox_words_avx2(uint64_t index0, uint64_t stride, int64_t n,
                                                                    uint64_t seed, uint64_t offset,
                                                                    uint32_t* const words[4]) {
  return philox_words_simd<Avx2Lanes>(index0, stride, n, seed, offset, words);
}

// Twice the blocks per instruction of the AVX2 clone, where the processor has AVX-512F (docs/performance.md).
[[gnu::target("avx512f"), gnu::flatten]] int64_t philox_words_avx512(uint64_t index0, uint64_t stride, int64_t n,
                                                                     uint64_t seed, uint64_t offset,
                                                                     uint32_t* const words[4]) {
  return philox_words_simd<Avx512Lanes>(index0, stride, n, seed, offset, words);
}

#pragma GCC diagnostic pop

bool has_avx512f() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
#endif

}  // namespace

void philox_words(uint64_t index0, uint64_t stride, int64_t n, uint64_t seed, uint64_t offset,
                  uint32_t* const words[4]) {
  int64_t done = 0;
#ifdef GRAPHMAE2_X86_DISPATCH
  if (simd_enabled() && has_avx512f()) done = philox_words_avx512(index0, stride, n, seed, offset, words);
  if (use_avx2_fma() && done < n) {
    uint32_t* const rest[4] = {words[0] + done, words[1] + done, words[2] + done, words[3] + done};
    done += philox_words_avx2(index0 + static_cast<uint64_t>(done) * stride, stride, n - done, seed, offset, rest);
  }
#endif
  philox_words_scalar(index0, stride, done, n, seed, offset, words);
}

}  // namespace graphmae2::graph::cpu
