#include "graph/ops/cuda/dropout_kernel.h"

#include "graph/cuda/common.cuh"
#include "graph/ops/philox.h"

namespace graphmae2::graph::cuda {

namespace {

template <typename T>
__device__ __forceinline__ float to_float(T v) {
  return static_cast<float>(v);
}
__device__ __forceinline__ double to_float(double v) { return v; }

template <typename T, typename Acc>
__device__ __forceinline__ T from_acc(Acc v) {
  return static_cast<T>(v);
}
template <>
__device__ __forceinline__ __half from_acc<__half, float>(float v) {
  return __float2half(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16, float>(float v) {
  return __float2bfloat16(v);
}

// One thread per Philox block: its four words are elements k, k + 16, k + 32 and k + 48 of its chunk of 64
// (graph/ops/philox.h), so 16 neighbouring threads write 16 consecutive elements per word.
template <typename T>
__global__ void dropout_kernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, uint32_t threshold,
                               double scale, uint64_t seed, uint64_t offset) {
  using Acc = decltype(to_float(T{}));
  const int64_t blocks = (n + kDropoutChunk - 1) / kDropoutChunk * 16;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks; b += stride) {
    const Philox4x32 bits = philox_edge_bits(seed, offset, b, 0, 1);
    const int64_t first = b / 16 * kDropoutChunk + b % 16;
    for (int w = 0; w < 4; ++w) {
      const int64_t i = first + 16 * w;
      if (i >= n) break;
      const bool keep = (bits.v[w] >> 8) >= threshold;
      const Acc kept = in != nullptr ? to_float(in[i]) * static_cast<Acc>(scale) : static_cast<Acc>(scale);
      out[i] = from_acc<T, Acc>(keep ? kept : Acc(0));
    }
  }
}

}  // namespace

template <typename T>
void launch_dropout(const T* in, T* out, int64_t n, double rate, uint64_t seed, uint64_t offset, cudaStream_t stream) {
  const int64_t blocks = (n + kDropoutChunk - 1) / kDropoutChunk * 16;
  if (empty_launch(blocks)) return;
  dropout_kernel<T><<<num_blocks(blocks), kThreadsPerBlock, 0, stream>>>(in, out, n, philox_dropout_threshold(rate),
                                                                         1.0 / (1.0 - rate), seed, offset);
  GRAPHMAE2_CUDA_CHECK_LAUNCH("dropout_kernel");
}

template void launch_dropout<float>(const float*, float*, int64_t, double, uint64_t, uint64_t, cudaStream_t);
template void launch_dropout<double>(const double*, double*, int64_t, double, uint64_t, uint64_t, cudaStream_t);
template void launch_dropout<__half>(const __half*, __half*, int64_t, double, uint64_t, uint64_t, cudaStream_t);
template void launch_dropout<__nv_bfloat16>(const __nv_bfloat16*, __nv_bfloat16*, int64_t, double, uint64_t, uint64_t,
                                            cudaStream_t);

}  // namespace graphmae2::graph::cuda
