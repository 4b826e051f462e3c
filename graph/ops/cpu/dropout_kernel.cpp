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
// Returns the chunk's keep flags as bits (bit j: element j).
[[gnu::target("avx2,fma")]] uint64_t keep_factors_avx2(const uint32_t* words, int32_t limit, float scale,
                                                       float* factor) {
  const __m256i below = _mm256_set1_epi32(limit - 1);
  const __m256 scales = _mm256_set1_ps(scale);
  uint64_t flags = 0;
  for (int64_t j = 0; j < kDropoutChunk; j += 8) {
    const __m256i bits = _mm256_srli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(words + j)), 8);
    const __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(bits, below));
    _mm256_storeu_ps(factor + j, _mm256_and_ps(keep, scales));
    flags |= static_cast<uint64_t>(_mm256_movemask_ps(keep)) << j;
  }
  return flags;
}

// factor[j] = scale if bit j of flags is set, else 0, for the 64 elements of a chunk.
[[gnu::target("avx2,fma")]] void factors_from_flags_avx2(uint64_t flags, float scale, float* factor) {
  const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256 scales = _mm256_set1_ps(scale);
  for (int64_t j = 0; j < kDropoutChunk; j += 8) {
    const __m256i byte = _mm256_set1_epi32(static_cast<int32_t>((flags >> j) & 0xFF));
    const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(byte, lane_bits), lane_bits);
    _mm256_storeu_ps(factor + j, _mm256_and_ps(_mm256_castsi256_ps(set), scales));
  }
}
#endif

// flags (null: not kept): each chunk's keep flags as one word.
template <bool kAvx2, typename T>
[[gnu::always_inline]] inline void dropout_chunks_impl(const T* __restrict in, T* __restrict out, int64_t n,
                                                       Range chunks, const DropoutParams& p, uint32_t threshold,
                                                       T scale, uint64_t* __restrict flags) {
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
      uint64_t kept = 0;
#ifdef GRAPHMAE2_X86_DISPATCH
      if constexpr (kAvx2 && std::is_same_v<T, float>) {
        kept = keep_factors_avx2(&c[0][0], limit, scale, factor);
      } else
#endif
      {
        for (int w = 0; w < 4; ++w) {
          for (int64_t k = 0; k < kBlocksPerChunk; ++k) {
            const bool keep = static_cast<int32_t>(c[w][k] >> 8) >= limit;
            factor[16 * w + k] = static_cast<T>(keep) * scale;
            kept |= static_cast<uint64_t>(keep) << (16 * w + k);
          }
        }
      }
      if (flags != nullptr) flags[chunk] = kept;
      if (in != nullptr) {
        for (int64_t j = 0; j < kDropoutChunk; ++j) out[first + j] = in[first + j] * factor[j];
      } else {
        for (int64_t j = 0; j < kDropoutChunk; ++j) out[first + j] = factor[j];
      }
    } else {
      uint64_t kept = 0;
      for (int64_t j = 0; first + j < n; ++j) {
        const bool keep = (c[j / 16][j % 16] >> 8) >= threshold;
        kept |= static_cast<uint64_t>(keep) << j;
        out[first + j] = in != nullptr ? in[first + j] * (keep ? scale : T(0)) : (keep ? scale : T(0));
      }
      if (flags != nullptr) flags[chunk] = kept;
    }
  }
}

template <typename T>
void dropout_chunks_base(const T* in, T* out, int64_t n, Range chunks, const DropoutParams& p, uint32_t threshold,
                         T scale, uint64_t* flags) {
  dropout_chunks_impl<false>(in, out, n, chunks, p, threshold, scale, flags);
}

// Chunks [begin, end) of grad times the scales of the saved flags.
template <bool kAvx2, typename T>
[[gnu::always_inline]] inline void masked_chunks_impl(const T* __restrict grad, T* __restrict out, int64_t n,
                                                      Range chunks, const uint64_t* __restrict flags, T scale) {
  for (int64_t chunk = chunks.begin; chunk < chunks.end; ++chunk) {
    const int64_t first = chunk * kDropoutChunk, count = std::min(kDropoutChunk, n - first);
    alignas(32) T factor[kDropoutChunk];
#ifdef GRAPHMAE2_X86_DISPATCH
    if constexpr (kAvx2 && std::is_same_v<T, float>) {
      factors_from_flags_avx2(flags[chunk], scale, factor);
    } else
#endif
    {
      for (int64_t j = 0; j < kDropoutChunk; ++j) factor[j] = ((flags[chunk] >> j) & 1) != 0 ? scale : T(0);
    }
    for (int64_t j = 0; j < count; ++j) out[first + j] = grad[first + j] * factor[j];
  }
}

template <typename T>
void masked_chunks_base(const T* grad, T* out, int64_t n, Range chunks, const uint64_t* flags, T scale) {
  masked_chunks_impl<false>(grad, out, n, chunks, flags, scale);
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void dropout_chunks_avx2(const T* in, T* out, int64_t n, Range chunks,
                                                     const DropoutParams& p, uint32_t threshold, T scale,
                                                     uint64_t* flags) {
  dropout_chunks_impl<true>(in, out, n, chunks, p, threshold, scale, flags);
}
template <typename T>
[[gnu::target("avx2,fma")]] void masked_chunks_avx2(const T* grad, T* out, int64_t n, Range chunks,
                                                    const uint64_t* flags, T scale) {
  masked_chunks_impl<true>(grad, out, n, chunks, flags, scale);
}
#endif

template <typename T>
void dropout_chunks(const T* in, T* out, int64_t n, Range chunks, const DropoutParams& p, uint32_t threshold, T scale,
                    uint64_t* flags) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return dropout_chunks_avx2(in, out, n, chunks, p, threshold, scale, flags);
#endif
  dropout_chunks_base(in, out, n, chunks, p, threshold, scale, flags);
}

template <typename T>
void masked_chunks(const T* grad, T* out, int64_t n, Range chunks, const uint64_t* flags, T scale) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return masked_chunks_avx2(grad, out, n, chunks, flags, scale);
#endif
  masked_chunks_base(grad, out, n, chunks, flags, scale);
}

int64_t chunks_of(int64_t n) { return (n + kDropoutChunk - 1) / kDropoutChunk; }

void check_rate_and_dtype(double rate, const torch::Tensor& t) {
  TORCH_CHECK(rate >= 0 && rate < 1, "dropout: rate must be in [0, 1), got ", rate);
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble,
              "dropout: the CPU kernel takes float32 or float64, got ", t.scalar_type());
}

// The forward, writing each chunk's flags to `flags` unless it is null.
torch::Tensor forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params,
                      uint64_t* flags) {
  const auto& shape = in.defined() ? in : like;
  check_rate_and_dtype(params.rate, shape);
  const auto input = in.defined() ? in.contiguous() : torch::Tensor();
  auto out = torch::empty(shape.sizes(), shape.options().memory_format(torch::MemoryFormat::Contiguous));
  const int64_t n = out.numel();
  const uint32_t threshold = philox_dropout_threshold(params.rate);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "dropout_forward", [&] {
    const scalar_t scale = static_cast<scalar_t>(1.0 / (1.0 - params.rate));
    const scalar_t* ip = input.defined() ? input.data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, chunks_of(n), 512, [&](int64_t c0, int64_t c1) {
      dropout_chunks(ip, op, n, Range{c0, c1}, params, threshold, scale, flags);
    });
  });
  return out;
}

}  // namespace

torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const DropoutParams& params) {
  return forward(in, like, params, nullptr);
}

std::pair<torch::Tensor, torch::Tensor> dropout_forward_keeping_mask(const torch::Tensor& in,
                                                                     const DropoutParams& params) {
  auto mask = torch::empty({chunks_of(in.numel())}, in.options().dtype(torch::kInt64));
  auto out = forward(in, in, params, reinterpret_cast<uint64_t*>(mask.data_ptr<int64_t>()));
  return {out, mask};
}

torch::Tensor dropout_backward_from_mask(const torch::Tensor& grad, const torch::Tensor& mask, double rate) {
  check_rate_and_dtype(rate, grad);
  const auto g = grad.contiguous();
  const int64_t n = g.numel();
  TORCH_CHECK(mask.scalar_type() == torch::kInt64 && mask.is_contiguous() && mask.numel() == chunks_of(n),
              "dropout: a mask of ", mask.numel(), " words for ", n, " elements");
  auto out = torch::empty(g.sizes(), g.options());
  const auto* flags = reinterpret_cast<const uint64_t*>(mask.data_ptr<int64_t>());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "dropout_backward", [&] {
    const scalar_t scale = static_cast<scalar_t>(1.0 / (1.0 - rate));
    const scalar_t* gp = g.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    at::parallel_for(0, chunks_of(n), 512, [&](int64_t c0, int64_t c1) {
      masked_chunks(gp, op, n, Range{c0, c1}, flags, scale);
    });
  });
  return out;
}

}  // namespace graphmae2::graph::cpu
