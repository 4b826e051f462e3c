#include "graph/ops/cuda/spmm_kernel.h"

#include "graph/cuda/common.cuh"

#include <stdexcept>
#include <string>
#include <type_traits>

namespace graphmae2::graph::cuda {

namespace {

// Row split: blockIdx.x picks rows (grid-stride), blockIdx.y * blockDim.x + threadIdx.x a column of the
// contiguous [H * F] feature row, so x rows are read coalesced and each output element is written once.
template <typename T>
__global__ void forward_kernel(const int64_t* __restrict__ indptr, const int64_t* __restrict__ indices,
                               const T* __restrict__ w, const T* __restrict__ x, int64_t num_rows, int64_t H, int64_t F,
                               T* __restrict__ out) {
  const int64_t HF = H * F;
  const int64_t j = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (j >= HF) return;
  const int64_t h = j / F;
  for (int64_t r = blockIdx.x; r < num_rows; r += gridDim.x) {
    T acc = 0;
    const int64_t end = indptr[r + 1];
    for (int64_t e = indptr[r]; e < end; ++e) acc += w[e * H + h] * x[indices[e] * HF + j];
    out[r * HF + j] = acc;
  }
}

// Row of edge e: the last r with indptr[r] <= e (rows without edges are skipped over).
__device__ __forceinline__ int64_t row_of_edge(const int64_t* __restrict__ indptr, int64_t num_rows, int64_t e) {
  int64_t lo = 0, hi = num_rows;  // answer in [lo, hi)
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (indptr[mid] <= e)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

// One group of kGroup lanes per (edge, head) reduces the F-long dot product (see segment_softmax_kernel.cu for
// the warp-uniform loop).
template <int kGroup, typename T>
__global__ void weights_grad_kernel(const int64_t* __restrict__ indptr, const int64_t* __restrict__ indices,
                                    const T* __restrict__ x, const T* __restrict__ grad_out, int64_t num_rows,
                                    int64_t num_edges, int64_t H, int64_t F, T* __restrict__ grad_w) {
  const int lane = threadIdx.x % kGroup;
  const int64_t HF = H * F;
  const int64_t groups = num_edges * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t base = thread / kWarpSize * (kWarpSize / kGroup); base < groups; base += stride) {
    const int64_t g = base + threadIdx.x % kWarpSize / kGroup;
    const bool active = g < groups;
    T acc = 0;
    if (active) {
      const int64_t e = g / H, h = g % H;
      const T* go = grad_out + row_of_edge(indptr, num_rows, e) * HF + h * F;
      const T* xc = x + indices[e] * HF + h * F;
      for (int64_t f = lane; f < F; f += kGroup) acc += go[f] * xc[f];
    }
    acc = group_sum<kGroup>(acc);
    if (active && lane == 0) grad_w[g] = acc;
  }
}

template <typename T>
void forward(const int64_t* indptr, const int64_t* indices, const T* w, const T* x, int64_t num_rows, int64_t H,
             int64_t F, T* out, cudaStream_t stream) {
  const int64_t HF = H * F;
  if (empty_launch(num_rows * HF)) return;
  const int threads =
      static_cast<int>(HF < kThreadsPerBlock ? (HF + kWarpSize - 1) / kWarpSize * kWarpSize : kThreadsPerBlock);
  const int64_t column_blocks = (HF + threads - 1) / threads;
  if (column_blocks > kMaxGridYZ) {
    throw std::invalid_argument("spmm (CUDA): H * F = " + std::to_string(HF) + " columns exceed the grid limit");
  }
  const dim3 grid(static_cast<unsigned int>(num_rows < kMaxGridX ? num_rows : kMaxGridX),
                  static_cast<unsigned int>(column_blocks));
  forward_kernel<T><<<grid, threads, 0, stream>>>(indptr, indices, w, x, num_rows, H, F, out);
  GRAPHMAE2_CUDA_CHECK_LAUNCH("spmm forward_kernel");
}

template <typename T>
void weights_grad(const int64_t* indptr, const int64_t* indices, const T* x, const T* grad_out, int64_t num_rows,
                  int64_t num_edges, int64_t H, int64_t F, T* grad_w, cudaStream_t stream) {
  if (empty_launch(num_edges * H)) return;
  const auto launch = [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    weights_grad_kernel<kGroup, T><<<num_blocks(num_edges * H * kGroup), kThreadsPerBlock, 0, stream>>>(
        indptr, indices, x, grad_out, num_rows, num_edges, H, F, grad_w);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("spmm weights_grad_kernel");
  };
  with_lane_group(F, launch);
}

}  // namespace

void launch_spmm_forward(const int64_t* indptr, const int64_t* indices, const float* w, const float* x,
                         int64_t num_rows, int64_t H, int64_t F, float* out, cudaStream_t stream) {
  forward(indptr, indices, w, x, num_rows, H, F, out, stream);
}
void launch_spmm_forward(const int64_t* indptr, const int64_t* indices, const double* w, const double* x,
                         int64_t num_rows, int64_t H, int64_t F, double* out, cudaStream_t stream) {
  forward(indptr, indices, w, x, num_rows, H, F, out, stream);
}
void launch_spmm_weights_grad(const int64_t* indptr, const int64_t* indices, const float* x, const float* grad_out,
                              int64_t num_rows, int64_t num_edges, int64_t H, int64_t F, float* grad_w,
                              cudaStream_t stream) {
  weights_grad(indptr, indices, x, grad_out, num_rows, num_edges, H, F, grad_w, stream);
}
void launch_spmm_weights_grad(const int64_t* indptr, const int64_t* indices, const double* x, const double* grad_out,
                              int64_t num_rows, int64_t num_edges, int64_t H, int64_t F, double* grad_w,
                              cudaStream_t stream) {
  weights_grad(indptr, indices, x, grad_out, num_rows, num_edges, H, F, grad_w, stream);
}

}  // namespace graphmae2::graph::cuda
