#include "graph/ops/cpu/prelu_kernel.h"

#include "graph/ops/cpu/simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#ifdef GRAPHMAE2_X86_DISPATCH
#include <immintrin.h>
#endif

namespace graphmae2::graph::cpu {

namespace {

// Elements per block of the backward; the slope's gradient sums the blocks' partial sums in block order, so it
// does not depend on the thread count.
constexpr int64_t kBlock = 1 << 14;

// grad_x[i] = x[i] > 0 ? g[i] : slope * g[i] over [begin, end); returns the block's sum of x[i] * g[i] where
// x[i] <= 0 (eight partial sums, as the AVX2 version keeps them in its lanes).
template <typename T>
inline double backward_block_impl(const T* __restrict x, const T* __restrict g, T slope, T* __restrict grad_x,
                                  int64_t begin, int64_t end) {
  T acc[8] = {};
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    for (int k = 0; k < 8; ++k) {
      const T xi = x[i + k], gi = g[i + k];
      const bool positive = xi > T(0);
      grad_x[i + k] = positive ? gi : slope * gi;
      acc[k] += positive ? T(0) : xi * gi;
    }
  }
  for (; i < end; ++i) {
    const bool positive = x[i] > T(0);
    grad_x[i] = positive ? g[i] : slope * g[i];
    acc[0] += positive ? T(0) : x[i] * g[i];
  }
  double sum = 0;
  for (const T a : acc) sum += static_cast<double>(a);
  return sum;
}

#ifdef GRAPHMAE2_X86_DISPATCH
// GCC leaves the loop above scalar (its selects between products), so float's is written in 8 lanes: lane k sums
// the elements i = k (mod 8), as acc[k] does, with a separate product and add, so both give the same bits.
[[gnu::target("avx2,fma")]] double backward_block_avx2(const float* x, const float* g, float slope, float* grad_x,
                                                       int64_t begin, int64_t end) {
  const __m256 zero = _mm256_setzero_ps(), slopes = _mm256_set1_ps(slope);
  __m256 acc = zero;
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 xi = _mm256_loadu_ps(x + i), gi = _mm256_loadu_ps(g + i);
    const __m256 positive = _mm256_cmp_ps(xi, zero, _CMP_GT_OQ);
    _mm256_storeu_ps(grad_x + i, _mm256_blendv_ps(_mm256_mul_ps(slopes, gi), gi, positive));
    acc = _mm256_add_ps(acc, _mm256_andnot_ps(positive, _mm256_mul_ps(xi, gi)));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, acc);
  for (; i < end; ++i) {
    const bool positive = x[i] > 0.0f;
    grad_x[i] = positive ? g[i] : slope * g[i];
    lanes[0] += positive ? 0.0f : x[i] * g[i];
  }
  double sum = 0;
  for (const float a : lanes) sum += static_cast<double>(a);
  return sum;
}
#endif

// y[i] = x[i] > 0 ? x[i] : slope * x[i] (ATen's prelu, which runs this scalar).
template <typename T>
inline void forward_block_impl(const T* __restrict x, T slope, T* __restrict y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) y[i] = x[i] > T(0) ? x[i] : slope * x[i];
}

#ifdef GRAPHMAE2_X86_DISPATCH
[[gnu::target("avx2,fma")]] void forward_block_avx2(const float* x, float slope, float* y, int64_t begin, int64_t end) {
  const __m256 zero = _mm256_setzero_ps(), slopes = _mm256_set1_ps(slope);
  int64_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const __m256 xi = _mm256_loadu_ps(x + i);
    const __m256 positive = _mm256_cmp_ps(xi, zero, _CMP_GT_OQ);
    _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_mul_ps(slopes, xi), xi, positive));
  }
  forward_block_impl(x, slope, y, i, end);
}
#endif

template <typename T>
void forward_block(const T* x, T slope, T* y, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if constexpr (std::is_same_v<T, float>) {
    if (use_avx2_fma()) return forward_block_avx2(x, slope, y, begin, end);
  }
#endif
  forward_block_impl(x, slope, y, begin, end);
}

template <typename T>
double backward_block(const T* x, const T* g, T slope, T* grad_x, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if constexpr (std::is_same_v<T, float>) {
    if (use_avx2_fma()) return backward_block_avx2(x, g, slope, grad_x, begin, end);
  }
#endif
  return backward_block_impl(x, g, slope, grad_x, begin, end);
}

}  // namespace

torch::Tensor prelu_forward(const torch::Tensor& x, const torch::Tensor& weight) {
  auto y = torch::empty_like(x);
  const int64_t n = x.numel();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "prelu_forward", [&] {
    const scalar_t slope = weight.item<scalar_t>();  // a CPU tensor: no device copy
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* yp = y.data_ptr<scalar_t>();
    at::parallel_for(0, n, kBlock, [&](int64_t begin, int64_t end) { forward_block(xp, slope, yp, begin, end); });
  });
  return y;
}

std::pair<torch::Tensor, torch::Tensor> prelu_backward(const torch::Tensor& x, const torch::Tensor& grad,
                                                       const torch::Tensor& weight) {
  auto grad_x = torch::empty_like(x);
  const int64_t n = x.numel(), blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(blocks, 0.0);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "prelu_backward", [&] {
    const scalar_t slope = weight.item<scalar_t>();  // a CPU tensor: no device copy
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* gp = grad.data_ptr<scalar_t>();
    scalar_t* out = grad_x.data_ptr<scalar_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        partial[b] = backward_block(xp, gp, slope, out, b * kBlock, std::min(n, (b + 1) * kBlock));
      }
    });
  });
  double grad_weight = 0;
  for (const double p : partial) grad_weight += p;
  return {grad_x, torch::full({1}, grad_weight, weight.options())};
}

}  // namespace graphmae2::graph::cpu
