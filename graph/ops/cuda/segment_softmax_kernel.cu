#include "graph/ops/cuda/segment_softmax_kernel.h"

#include "graph/cuda/common.cuh"

#include <type_traits>

namespace graphmae2::graph::cuda {

namespace {

__device__ __forceinline__ float device_exp(float v) { return expf(v); }
__device__ __forceinline__ double device_exp(double v) { return exp(v); }

// One group of kGroup lanes per (row, head); the lanes stride over the row's edges. Groups never straddle a
// warp and the loop runs the same trips on every lane of a warp, so all lanes reach the shuffles.
template <int kGroup, typename T>
__global__ void forward_kernel(const T* __restrict__ scores, const int64_t* __restrict__ indptr, int64_t num_rows,
                               int64_t H, T* __restrict__ out) {
  const int lane = threadIdx.x % kGroup;
  const int64_t groups = num_rows * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // `base` (the warp's first group) is uniform across the warp; lanes of groups past the end idle along.
  for (int64_t base = thread / kWarpSize * (kWarpSize / kGroup); base < groups; base += stride) {
    const int64_t g = base + threadIdx.x % kWarpSize / kGroup;
    const bool active = g < groups;
    const int64_t r = active ? g / H : 0, h = active ? g % H : 0;
    const int64_t b = active ? indptr[r] : 0, e = active ? indptr[r + 1] : 0;
    T mx = -INFINITY;
    for (int64_t i = b + lane; i < e; i += kGroup) mx = fmax(mx, scores[i * H + h]);
    mx = group_max<kGroup>(mx);
    T sum = 0;
    for (int64_t i = b + lane; i < e; i += kGroup) {
      const T v = device_exp(scores[i * H + h] - mx);
      out[i * H + h] = v;
      sum += v;
    }
    sum = group_sum<kGroup>(sum);
    const T inv = T(1) / sum;
    for (int64_t i = b + lane; i < e; i += kGroup) out[i * H + h] *= inv;
  }
}

template <int kGroup, typename T>
__global__ void backward_kernel(const T* __restrict__ out, const T* __restrict__ grad_out,
                                const int64_t* __restrict__ indptr, int64_t num_rows, int64_t H,
                                T* __restrict__ grad_in) {
  const int lane = threadIdx.x % kGroup;
  const int64_t groups = num_rows * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // `base` (the warp's first group) is uniform across the warp; lanes of groups past the end idle along.
  for (int64_t base = thread / kWarpSize * (kWarpSize / kGroup); base < groups; base += stride) {
    const int64_t g = base + threadIdx.x % kWarpSize / kGroup;
    const bool active = g < groups;
    const int64_t r = active ? g / H : 0, h = active ? g % H : 0;
    const int64_t b = active ? indptr[r] : 0, e = active ? indptr[r + 1] : 0;
    T dot = 0;
    for (int64_t i = b + lane; i < e; i += kGroup) dot += out[i * H + h] * grad_out[i * H + h];
    dot = group_sum<kGroup>(dot);
    for (int64_t i = b + lane; i < e; i += kGroup) grad_in[i * H + h] = out[i * H + h] * (grad_out[i * H + h] - dot);
  }
}

// Lanes per row: the average degree rounded up to a power of two (a whole warp on a 5-edge row idles 27 lanes).
template <typename Launch>
void with_group_size(int64_t num_rows, int64_t num_edges, const Launch& launch) {
  with_lane_group(num_rows > 0 ? (num_edges + num_rows - 1) / num_rows : 1, launch);
}

template <typename T>
void forward(const T* scores, const int64_t* indptr, int64_t num_rows, int64_t num_edges, int64_t H, T* out,
             cudaStream_t stream) {
  if (empty_launch(num_edges * H)) return;
  with_group_size(num_rows, num_edges, [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    forward_kernel<kGroup, T>
        <<<num_blocks(num_rows * H * kGroup), kThreadsPerBlock, 0, stream>>>(scores, indptr, num_rows, H, out);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("segment_softmax forward_kernel");
  });
}

template <typename T>
void backward(const T* out, const T* grad_out, const int64_t* indptr, int64_t num_rows, int64_t num_edges, int64_t H,
              T* grad_in, cudaStream_t stream) {
  if (empty_launch(num_edges * H)) return;
  with_group_size(num_rows, num_edges, [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    backward_kernel<kGroup, T><<<num_blocks(num_rows * H * kGroup), kThreadsPerBlock, 0, stream>>>(
        out, grad_out, indptr, num_rows, H, grad_in);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("segment_softmax backward_kernel");
  });
}

}  // namespace

void launch_segment_softmax_forward(const float* scores, const int64_t* indptr, int64_t num_rows, int64_t num_edges,
                                    int64_t H, float* out, cudaStream_t stream) {
  forward(scores, indptr, num_rows, num_edges, H, out, stream);
}
void launch_segment_softmax_forward(const double* scores, const int64_t* indptr, int64_t num_rows, int64_t num_edges,
                                    int64_t H, double* out, cudaStream_t stream) {
  forward(scores, indptr, num_rows, num_edges, H, out, stream);
}
void launch_segment_softmax_backward(const float* out, const float* grad_out, const int64_t* indptr, int64_t num_rows,
                                     int64_t num_edges, int64_t H, float* grad_in, cudaStream_t stream) {
  backward(out, grad_out, indptr, num_rows, num_edges, H, grad_in, stream);
}
void launch_segment_softmax_backward(const double* out, const double* grad_out, const int64_t* indptr, int64_t num_rows,
                                     int64_t num_edges, int64_t H, double* grad_in, cudaStream_t stream) {
  backward(out, grad_out, indptr, num_rows, num_edges, H, grad_in, stream);
}

}  // namespace graphmae2::graph::cuda
