#include "graph/ops/cuda/gat_attention_kernel.h"

#include "graph/cuda/common.cuh"
#include "graph/ops/philox.h"

namespace graphmae2::graph::cuda {

namespace {

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(GatAcc<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16(v);
  } else {
    return v;
  }
}

__device__ __forceinline__ float device_exp(float v) { return expf(v); }
__device__ __forceinline__ double device_exp(double v) { return exp(v); }
__device__ __forceinline__ float device_log(float v) { return logf(v); }
__device__ __forceinline__ double device_log(double v) { return log(v); }

// Lanes of one (row, head) group within its warp, for shuffles while other groups of the warp run other trips.
template <int kGroup>
__device__ __forceinline__ unsigned group_mask() {
  if constexpr (kGroup == kWarpSize) {
    return 0xffffffffu;
  } else {
    return ((1u << kGroup) - 1u) << (threadIdx.x % kWarpSize / kGroup * kGroup);
  }
}

template <int kGroup, typename Acc>
__device__ __forceinline__ Acc masked_group_sum(Acc v, unsigned mask) {
  for (int offset = kGroup / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(mask, v, offset, kGroup);
  return v;
}

constexpr int kPerLane = 8;  // features held in registers per lane; wider heads take several passes

// One group of kGroup lanes per (row, head); every lane walks the row's edges with the same online softmax
// (the scalars are recomputed, not shuffled) and accumulates its own features j = lane + kGroup * t.
template <int kGroup, typename T>
__global__ void forward_kernel(GatAttentionShape s, const T* __restrict__ feat, const T* __restrict__ el,
                               const T* __restrict__ er, T* __restrict__ out, GatAcc<T>* __restrict__ lse) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const int64_t H = s.heads, D = s.dim, groups = s.num_rows * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const Acc slope = static_cast<Acc>(s.negative_slope);
  const float rate = static_cast<float>(s.dropout);
  const Acc keep_scale = s.dropout > 0 ? Acc(1) / (Acc(1) - static_cast<Acc>(s.dropout)) : Acc(1);
  for (int64_t g = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; g < groups;
       g += stride) {
    const int64_t r = g / H, h = g % H;
    const int64_t b = s.indptr[r], e = s.indptr[r + 1];
    const Acc er_rh = to_acc(er[g]);
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kPerLane) {
      Acc acc[kPerLane];
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) acc[t] = 0;
      Acc m = -INFINITY, sum = 0;
      for (int64_t i = b; i < e; ++i) {
        const int64_t src = s.indices[i];
        const Acc pre = to_acc(el[src * H + h]) + er_rh;
        const Acc z = pre > 0 ? pre : pre * slope;
        if (z > m) {
          const Acc scale = device_exp(m - z);
          sum *= scale;
#pragma unroll
          for (int t = 0; t < kPerLane; ++t) acc[t] *= scale;
          m = z;
        }
        const Acc w = device_exp(z - m);
        sum += w;
        if (rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate)) {
          const Acc wk = w * keep_scale;
          const T* f = feat + (src * H + h) * D + c0 + lane;
#pragma unroll
          for (int t = 0; t < kPerLane; ++t) {
            if (c0 + lane + t * kGroup < D) acc[t] += wk * to_acc(f[t * kGroup]);
          }
        }
      }
      const Acc inv = sum > 0 ? Acc(1) / sum : Acc(0);
      T* o = out + g * D + c0 + lane;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) {
        if (c0 + lane + t * kGroup < D) o[t * kGroup] = from_acc<T>(acc[t] * inv);
      }
      if (c0 == 0 && lane == 0) lse[g] = sum > 0 ? m + device_log(sum) : -INFINITY;
    }
  }
}

// One group per (row, head), two passes over the row's edges. First, per edge, the attention and its gradient
// k * <grad_out, feat[src]> (a group sum), whose attention-weighted sum is the row's <grad_out, out>: the output
// itself is not needed. Then, with lanes over edges, the logit gradients a * (grad_a - <grad_out, out>).
template <int kGroup, typename T>
__global__ void backward_kernel(GatAttentionShape s, const T* __restrict__ feat, const T* __restrict__ el,
                                const T* __restrict__ er, const GatAcc<T>* __restrict__ lse,
                                const T* __restrict__ grad_out, GatAcc<T>* __restrict__ attention,
                                GatAcc<T>* __restrict__ grad_logit, GatAcc<T>* __restrict__ grad_er) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, D = s.dim, groups = s.num_rows * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const Acc slope = static_cast<Acc>(s.negative_slope);
  const float rate = static_cast<float>(s.dropout);
  const Acc keep_scale = s.dropout > 0 ? Acc(1) / (Acc(1) - static_cast<Acc>(s.dropout)) : Acc(1);
  for (int64_t g = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; g < groups;
       g += stride) {
    const int64_t r = g / H, h = g % H;
    const int64_t b = s.indptr[r], e = s.indptr[r + 1];
    const T* go = grad_out + g * D;
    const Acc er_rh = to_acc(er[g]), lse_rh = lse[g];
    Acc dot_out = 0;
    for (int64_t i = b; i < e; ++i) {
      const int64_t src = s.indices[i];
      const Acc pre = to_acc(el[src * H + h]) + er_rh;
      const Acc z = pre > 0 ? pre : pre * slope;
      const Acc a = device_exp(z - lse_rh);
      const Acc k = rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate) ? keep_scale : Acc(0);
      Acc grad_part = 0;
      if (k != 0) {
        const T* f = feat + (src * H + h) * D;
        for (int64_t j = lane; j < D; j += kGroup) grad_part += to_acc(go[j]) * to_acc(f[j]);
      }
      const Acc grad_a = k * masked_group_sum<kGroup>(grad_part, mask);
      dot_out += a * grad_a;
      if (lane == 0) {
        attention[i * H + h] = a * k;
        grad_logit[i * H + h] = grad_a;
      }
    }
    __syncwarp(mask);  // lane 0's grad_a visible to the group
    Acc grad_er_part = 0;
    for (int64_t i = b + lane; i < e; i += kGroup) {
      const Acc pre = to_acc(el[s.indices[i] * H + h]) + er_rh;
      const Acc z = pre > 0 ? pre : pre * slope;
      const Acc grad_z = device_exp(z - lse_rh) * (grad_logit[i * H + h] - dot_out);
      const Acc grad_pre = pre > 0 ? grad_z : grad_z * slope;
      grad_logit[i * H + h] = grad_pre;
      grad_er_part += grad_pre;
    }
    const Acc grad_er_rh = masked_group_sum<kGroup>(grad_er_part, mask);
    if (lane == 0) grad_er[g] = grad_er_rh;
  }
}

// Lanes per (row, head): the head width rounded up to a power of two, 4 to 32.
template <typename Launch>
void with_group_size(int64_t dim, const Launch& launch) {
  switch (group_size(dim, 4)) {
    case 4: launch(std::integral_constant<int, 4>{}); break;
    case 8: launch(std::integral_constant<int, 8>{}); break;
    case 16: launch(std::integral_constant<int, 16>{}); break;
    default: launch(std::integral_constant<int, 32>{}); break;
  }
}

}  // namespace

template <typename T>
void launch_gat_attention_forward(const GatAttentionShape& shape, const T* feat, const T* el, const T* er, T* out,
                                  GatAcc<T>* lse, cudaStream_t stream) {
  if (empty_launch(shape.num_rows * shape.heads)) return;
  with_group_size(shape.dim, [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    forward_kernel<kGroup, T><<<num_blocks(shape.num_rows * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
        shape, feat, el, er, out, lse);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention forward_kernel");
  });
}

template <typename T>
void launch_gat_attention_backward(const GatAttentionShape& shape, const T* feat, const T* el, const T* er,
                                   const GatAcc<T>* lse, const T* grad_out, GatAcc<T>* attention,
                                   GatAcc<T>* grad_logit, GatAcc<T>* grad_er, cudaStream_t stream) {
  if (empty_launch(shape.num_rows * shape.heads)) return;
  with_group_size(shape.dim, [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    backward_kernel<kGroup, T><<<num_blocks(shape.num_rows * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
        shape, feat, el, er, lse, grad_out, attention, grad_logit, grad_er);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention backward_kernel");
  });
}

#define GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(T)                                                                   \
  template void launch_gat_attention_forward<T>(const GatAttentionShape&, const T*, const T*, const T*, T*,     \
                                                GatAcc<T>*, cudaStream_t);                                      \
  template void launch_gat_attention_backward<T>(const GatAttentionShape&, const T*, const T*, const T*,        \
                                                 const GatAcc<T>*, const T*, GatAcc<T>*, GatAcc<T>*, GatAcc<T>*,  \
                                                 cudaStream_t);
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(float)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(double)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__half)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__nv_bfloat16)

}  // namespace graphmae2::graph::cuda
