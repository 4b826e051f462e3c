#pragma once
// CUDA hygiene shared by graphmae2's kernels (raw pointers, no torch): error and launch checks, empty-launch
// guards, grid sizes and warp reductions. Kernels run on the stream their caller passes (the bridges pass
// torch's current stream); nothing here allocates or synchronises.

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace graphmae2::graph::cuda {

/// Throws std::runtime_error naming the failed call and the CUDA error.
inline void check_cuda(cudaError_t err, const char* what, const char* file, int line) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

#define GRAPHMAE2_CUDA_CHECK(expr) ::graphmae2::graph::cuda::check_cuda((expr), #expr, __FILE__, __LINE__)
/// After every launch: reports a bad configuration at once, without synchronising.
#define GRAPHMAE2_CUDA_CHECK_LAUNCH(kernel_name) \
  ::graphmae2::graph::cuda::check_cuda(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)

constexpr int kWarpSize = 32;
constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridYZ = 65535;

/// Empty inputs launch nothing (a zero-sized grid is a launch error).
inline bool empty_launch(int64_t work_items) { return work_items <= 0; }

/// Blocks covering `work_items` at `threads` per block, capped at the grid limit; kernels use grid-stride loops.
inline unsigned int num_blocks(int64_t work_items, int threads = kThreadsPerBlock) {
  const int64_t blocks = (work_items + threads - 1) / threads;
  return static_cast<unsigned int>(blocks < kMaxGridX ? blocks : kMaxGridX);
}

/// Smallest power of two >= n, clamped to [lo, kWarpSize]: the lanes given to one segment.
inline int group_size(int64_t n, int lo = 1) {
  int g = lo;
  while (g < kWarpSize && g < n) g *= 2;
  return g;
}

/// Calls launch(std::integral_constant<int, G>{}) with G = group_size(n, 4), one of 4, 8, 16 or 32: the lane count
/// chosen at run time as the compile-time one the kernels are instantiated for.
template <typename Launch>
void with_lane_group(int64_t n, const Launch& launch) {
  switch (group_size(n, 4)) {
    case 4:
      launch(std::integral_constant<int, 4>{});
      break;
    case 8:
      launch(std::integral_constant<int, 8>{});
      break;
    case 16:
      launch(std::integral_constant<int, 16>{});
      break;
    default:
      launch(std::integral_constant<int, 32>{});
      break;
  }
}

/// Sum / max over aligned groups of kGroup lanes (kGroup a power of two <= 32); every lane gets the result.
/// All 32 lanes of the warp must reach the call.
template <int kGroup, typename T>
__device__ __forceinline__ T group_sum(T v) {
  for (int offset = kGroup / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset, kGroup);
  return v;
}

template <int kGroup, typename T>
__device__ __forceinline__ T group_max(T v) {
  for (int offset = kGroup / 2; offset > 0; offset /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, offset, kGroup));
  return v;
}

}  // namespace graphmae2::graph::cuda
