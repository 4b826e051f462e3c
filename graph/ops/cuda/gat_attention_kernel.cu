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

template <int kGroup, typename Acc>
__device__ __forceinline__ Acc masked_group_max(Acc v, unsigned mask) {
  for (int offset = kGroup / 2; offset > 0; offset /= 2) v = fmax(v, __shfl_xor_sync(mask, v, offset, kGroup));
  return v;
}

// One butterfly step at distance kO: the lanes with bit kO set keep the upper half of v[0, 2 kO), the others the
// lower half, each adding its partner's copy of the half it keeps (template recursion keeps v in registers).
template <int kGroup, int kO, typename Acc>
__device__ __forceinline__ void reduce_scatter_steps(Acc (&v)[kGroup], int lane, unsigned mask) {
  if constexpr (kO >= 1) {
    const bool upper = (lane & kO) != 0;
#pragma unroll
    for (int k = 0; k < kO; ++k) {
      const Acc send = upper ? v[k] : v[k + kO];
      const Acc keep = upper ? v[k + kO] : v[k];
      v[k] = keep + __shfl_xor_sync(mask, send, kO, kGroup);
    }
    reduce_scatter_steps<kGroup, kO / 2>(v, lane, mask);
  }
}

// v[t] holds this lane's share of item t's sum; returns item `lane`'s full sum (a butterfly reduce-scatter:
// kGroup - 1 shuffles for kGroup sums, where one sum per item would take log2(kGroup) each).
template <int kGroup, typename Acc>
__device__ __forceinline__ Acc transposed_group_sum(Acc (&v)[kGroup], int lane, unsigned mask) {
  reduce_scatter_steps<kGroup, kGroup / 2>(v, lane, mask);
  return v[0];
}

template <typename Acc>
__device__ __forceinline__ Acc leaky_relu(Acc pre, Acc slope) {
  return pre > 0 ? pre : pre * slope;
}

constexpr int kPerLane = 8;  // features held in registers per lane; wider heads take several passes

// acc[t] += w_k * rows[(index_k * H + h) * D + c0 + lane + t * kGroup] for the n <= kGroup items of one chunk,
// item k's (index, weight) held by lane k: the group's scalars are computed once per item, and the unrolled
// item loop keeps several feature loads in flight.
template <int kGroup, typename T>
__device__ __forceinline__ void accumulate_chunk(const T* __restrict__ rows, int64_t index, GatAcc<T> w, int n,
                                                 int64_t H, int64_t h, int64_t D, int64_t c0, int lane,
                                                 unsigned mask, GatAcc<T> (&acc)[kPerLane]) {
#pragma unroll 4
  for (int k = 0; k < n; ++k) {
    const int64_t index_k = __shfl_sync(mask, index, k, kGroup);
    const GatAcc<T> w_k = __shfl_sync(mask, w, k, kGroup);
    if (w_k != 0) {
      const T* f = rows + (index_k * H + h) * D + c0 + lane;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) {
        if (c0 + lane + t * kGroup < D) acc[t] += w_k * to_acc(f[t * kGroup]);
      }
    }
  }
}

// One group of kGroup lanes per (row, head). First, with lanes over the row's edges, the row's log-sum-exp (each
// lane an online softmax over its edges, then merged); then, a chunk of kGroup edges at a time, each lane draws
// one edge's normalised, dropped-out weight and the group accumulates the chunk's source features. Edge
// scalars (logit, exponential, Philox) are computed once per edge, not once per lane, and a long row's edges are
// worked on kGroup at a time.
template <int kGroup, typename T>
__global__ void forward_kernel(GatAttentionShape s, const T* __restrict__ feat, const T* __restrict__ el,
                               const T* __restrict__ er, T* __restrict__ out, GatAcc<T>* __restrict__ lse) {
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
    const Acc er_rh = to_acc(er[g]);
    Acc m = -INFINITY, sum = 0;
    for (int64_t i = b + lane; i < e; i += kGroup) {
      const Acc z = leaky_relu(to_acc(el[s.indices[i] * H + h]) + er_rh, slope);
      if (z > m) {
        sum = sum * device_exp(m - z) + Acc(1);
        m = z;
      } else {
        sum += device_exp(z - m);
      }
    }
    const Acc row_max = masked_group_max<kGroup>(m, mask);
    const Acc row_sum = masked_group_sum<kGroup>(m == -INFINITY ? Acc(0) : sum * device_exp(m - row_max), mask);
    const Acc row_lse = row_sum > 0 ? row_max + device_log(row_sum) : -INFINITY;
    if (lane == 0) lse[g] = row_lse;
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kPerLane) {
      Acc acc[kPerLane];
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) acc[t] = 0;
      for (int64_t base = b; base < e; base += kGroup) {
        const int64_t i = base + lane;
        int64_t src = 0;
        Acc w = 0;
        if (i < e) {
          src = s.indices[i];
          if (rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate)) {
            const Acc z = leaky_relu(to_acc(el[src * H + h]) + er_rh, slope);
            w = device_exp(z - row_lse) * keep_scale;
          }
        }
        const int n = static_cast<int>(e - base < kGroup ? e - base : kGroup);
        accumulate_chunk<kGroup, T>(feat, src, w, n, H, h, D, c0, lane, mask, acc);
      }
      T* o = out + g * D + c0 + lane;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) {
        if (c0 + lane + t * kGroup < D) o[t * kGroup] = from_acc<T>(acc[t]);
      }
    }
  }
}

// One group per (row, head), lanes over the row's edges a chunk of kGroup at a time. Per chunk: each lane's share
// of <grad_out, feat[src]> for every edge of the chunk, reduced so that lane k holds edge k's product; then, per
// edge, the attention and its gradient k * <grad_out, feat[src]>, whose attention-weighted sum is the row's
// <grad_out, out> (the output itself is not needed). A second pass, each lane over the edges it wrote, turns
// them into the logit gradients a * (grad_a - <grad_out, out>).
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
    Acc dot_out_part = 0;
    for (int64_t base = b; base < e; base += kGroup) {
      const int64_t i = base + lane;
      int64_t src = 0;
      Acc a = 0, k = 0;
      if (i < e) {
        src = s.indices[i];
        a = device_exp(leaky_relu(to_acc(el[src * H + h]) + er_rh, slope) - lse_rh);
        k = rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate) ? keep_scale : Acc(0);
      }
      const int n = static_cast<int>(e - base < kGroup ? e - base : kGroup);
      Acc part[kGroup];
#pragma unroll
      for (int t = 0; t < kGroup; ++t) {
        part[t] = 0;
        const int64_t src_t = __shfl_sync(mask, src, t, kGroup);
        const Acc k_t = __shfl_sync(mask, k, t, kGroup);
        if (t < n && k_t != 0) {
          const T* f = feat + (src_t * H + h) * D;
          for (int64_t j = lane; j < D; j += kGroup) part[t] += to_acc(go[j]) * to_acc(f[j]);
        }
      }
      const Acc grad_a = k * transposed_group_sum<kGroup>(part, lane, mask);
      if (i < e) {
        dot_out_part += a * grad_a;
        attention[i * H + h] = a * k;
        grad_logit[i * H + h] = grad_a;
      }
    }
    const Acc dot_out = masked_group_sum<kGroup>(dot_out_part, mask);
    Acc grad_er_part = 0;
    for (int64_t i = b + lane; i < e; i += kGroup) {  // the edges this lane wrote above
      const Acc pre = to_acc(el[s.indices[i] * H + h]) + er_rh;
      const Acc grad_z = device_exp(leaky_relu(pre, slope) - lse_rh) * (grad_logit[i * H + h] - dot_out);
      const Acc grad_pre = pre > 0 ? grad_z : grad_z * slope;
      grad_logit[i * H + h] = grad_pre;
      grad_er_part += grad_pre;
    }
    const Acc grad_er_rh = masked_group_sum<kGroup>(grad_er_part, mask);
    if (lane == 0) grad_er[g] = grad_er_rh;
  }
}

// The transposed aggregation, grad_feat[c, h, :] = sum over edges e = (c -> r) of attention[e, h] *
// grad_out[r, h, :]: one group per (source, head) over the source's edges in `order` (the edges sorted by
// source), a chunk of kGroup at a time as in the forward.
template <int kGroup, typename T>
__global__ void transposed_kernel(GatTransposedShape s, const GatAcc<T>* __restrict__ attention,
                                  const T* __restrict__ grad_out, T* __restrict__ grad_feat) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, D = s.dim, groups = s.num_cols * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  for (int64_t g = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; g < groups;
       g += stride) {
    const int64_t c = g / H, h = g % H;
    const int64_t b = s.col_ptr[c], e = s.col_ptr[c + 1];
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kPerLane) {
      Acc acc[kPerLane];
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) acc[t] = 0;
      for (int64_t base = b; base < e; base += kGroup) {
        const int64_t k = base + lane;
        int64_t row = 0;
        Acc w = 0;
        if (k < e) {
          const int64_t edge = s.order[k];
          row = s.edge_rows[edge];
          w = attention[edge * H + h];
        }
        const int n = static_cast<int>(e - base < kGroup ? e - base : kGroup);
        accumulate_chunk<kGroup, T>(grad_out, row, w, n, H, h, D, c0, lane, mask, acc);
      }
      T* o = grad_feat + g * D + c0 + lane;
#pragma unroll
      for (int t = 0; t < kPerLane; ++t) {
        if (c0 + lane + t * kGroup < D) o[t * kGroup] = from_acc<T>(acc[t]);
      }
    }
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

template <typename T>
void launch_gat_attention_transposed(const GatTransposedShape& shape, const GatAcc<T>* attention, const T* grad_out,
                                     T* grad_feat, cudaStream_t stream) {
  if (empty_launch(shape.num_cols * shape.heads * shape.dim)) return;
  with_group_size(shape.dim, [&](auto group) {
    constexpr int kGroup = decltype(group)::value;
    transposed_kernel<kGroup, T><<<num_blocks(shape.num_cols * shape.heads * kGroup), kThreadsPerBlock, 0,
                                   stream>>>(shape, attention, grad_out, grad_feat);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention transposed_kernel");
  });
}

#define GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(T)                                                                   \
  template void launch_gat_attention_forward<T>(const GatAttentionShape&, const T*, const T*, const T*, T*,     \
                                                GatAcc<T>*, cudaStream_t);                                      \
  template void launch_gat_attention_backward<T>(const GatAttentionShape&, const T*, const T*, const T*,        \
                                                 const GatAcc<T>*, const T*, GatAcc<T>*, GatAcc<T>*, GatAcc<T>*,  \
                                                 cudaStream_t);                                                  \
  template void launch_gat_attention_transposed<T>(const GatTransposedShape&, const GatAcc<T>*, const T*, T*,   \
                                                   cudaStream_t);
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(float)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(double)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__half)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__nv_bfloat16)

}  // namespace graphmae2::graph::cuda
