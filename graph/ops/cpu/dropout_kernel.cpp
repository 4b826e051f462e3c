#include "graph/ops/cpu/dropout_kernel.h"

#include "graph/ops/cpu/philox_words.h"
#include "graph/ops/cpu/simd.h"
#include "graph/ops/philox.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>

#ifdef GRAPHMAE2_X86_DISPATCH
#include <immintrin.h>
#endif

namespace graphmae2::graph::cpu {

namespace {

// A chunk of kDropoutChunk (64) elements takes 16 Philox blocks (philox_words: 8 per AVX2 vector), and word w of
// the 16 blocks covers elements [16 w, 16 w + 16) of the chunk (graph/ops/philox.h), so comparing and scaling is a
// vector loop too.
constexpr int64_t kBlocksPerChunk = 16;

struct Range {
  int64_t begin, end;  // chunks [begin, end)
};

#ifdef GRAPHMAE2_X86_DISPATCH
// factor[j] = scale if (words[j] >> 8) > limit - 1 else 0, for the 64 words of a chunk (4 x 16, word-major). GCC
// leaves this compare scalar, so 8 lanes by hand; a separate function, as intrinsics cannot inline into the
// baseline-compiled template.
[[gnu::target("avx2,fma")]] void keep_factors_avx2(const uint32_t* words, int32_t limit, float scale, float* factor) {
  const __m256i below = _mm256_set1_epi32(limit - 1);
  const __m256 scales = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < kDropoutChunk; j += 8) {
    const __m256i bits = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + j)), 8);
    _mm256_storeu_ps(factor + j, _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bits, below)), scales));
  }
}
#endif

template <bool kAvx2, typename T>
[[gnu::always_inline]] inline void dropout_chunks_impl(const T* __restrict in, T* __restrict out, int64_t n,
                                                       Range chunks, const DropoutParams& p, uint32_t threshold,
                                                       T scale) {
  for (int64_t chunk = chunks.begin; chunk < chunks.end; ++chunk) {
    alignas(32) uint32_t c[4][kBlocksPerChunk];
    uint32_t* const words[4] = {c[0], c[1], c[2], c[3]};
    philox_words(static_cast<uint64_t>(chunk * kBlocksPerChunk), 1, kBlocksPerChunk, p.seed, p.offset, words);
    const int64_t first = chunk * kDropoutChunk;
    if (first + kDropoutChunk <= n) {
      // The keep flags as factors 0 or scale (signed compares: the 24-bit values fit), then one product per
      // element; the AVX2 build compares 8 lanes at a time.
      const auto limit = static_cast<int32_t>(threshold);
      alignas(32) T factor[kDropoutChunk];
#ifdef GRAPHMAE2_X86_DISPATCH
      if constexpr (kAvx2 && std::is_same_v<T, float>) {
        keep_factors_avx2(&c[0][0], limit, scale, factor);
      } else
#endif
      {
        for (int w = 0; w < 4; ++w) {
          for (int64_t k = 0; k < kBlocksPerChunk; ++k) {
            factor[16 * w + k] = static_cast<T>(static_cast<int32_t>(c[w][k] >> 8) >= limit) * scale;
          }
        }
      }
      if (in != nullptr) {
        for (int64_t j = 0; j < kDropoutChunk; ++j) out[first + j] = in[first + j] * factor[j];
      } else {
        for (int64_t j = 0; j < kDropoutChunk; ++j) out[first + j] = factor[j];
      }
    } else {
      for (int64_t j = 0; first + j < n; ++j) {
        const T keep = (c[j / 16][j % 16] >> 8) >= threshold ? scale : T(0);
        out[first + j] = in != nullptr ? in[first + j] * keep : keep;
      }
    }
  }
}

template <typename T>
void dropout_chunks_base(const T* in, T* out, int64_t n, Range chunks, const DropoutParams& p, uint32_t threshold,
                         T scale) {
  dropout_chunks_impl<false>(in, out, n, chunks, p, threshold, scale);
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void dropout_chunks_avx2(const T* in, T* out, int64_t n, Range chunks,
                                                     const DropoutParams& p, uint32_t threshold, T scale) {
  dropout_chunks_impl<true>(in, out, n, chunks, p, threshold, scale);
}
#endif

template <typename T>
void dropout_chunks(const T* in, T* out, int64_t n, Range chunks, const DropoutParams& p, uint32_t threshold,
                    T scale) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (has_avx2_fma()) return dropout_chunks_avx2(in, out, n, chunks, p, threshold, scale);
#endif
  dropout_chunks_base(in, out, n, chunks, p, threshold, scale);
}

}  // namespace

torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params) {
  TORCH_CHECK(params.rate >= 0 && params.rate < 1, "dropout: rate must be in [0, 1), got ", params.rate);
  const auto& shape = in.defined() ? in : like;
  TORCH_CHECK(shape.scalar_type() == torch::kFloat || shape.scalar_type() == torch::kDouble,
              "dropout: the CPU kernel takes float32 or float64, got ", shape.scalar_type());
  const auto input = in.defined() ? in.contiguous() : torch::Tensor();
  auto out = torch::empty(shape.sizes(), shape.options().memory_format(torch::MemoryFormat::Contiguous));
  const int64_t n = out.numel();
  const uint32_t threshold = philox_dropout_threshold(params.rate);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dropout_forward", [&] {
    const scalar_t scale = static_cast<scalar_t>(1.0 / (1.0 - params.rate));
    const scalar_t* ip = input.defined() ? input.data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, (n + kDropoutChunk - 1) / kDropoutChunk, 512, [&](int64_t c0, int64_t c1) {
      dropout_chunks(ip, op, n, Range{c0, c1}, params, threshold, scale);
    });
  });
  return out;
}

}  // namespace graphmae2::graph::cpu
