#include "graph/ops/cuda/gat_attention_kernel.h"

#include "graph/cuda/common.cuh"
#include "graph/ops/philox.h"

#include <cstdint>
#include <initializer_list>
#include <type_traits>

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

// Blocks kept resident per multiprocessor: caps the kernels at 80 registers a thread (65,536 / (3 x 256), to the
// allocation unit), so that 24 warps per multiprocessor hide the latency of the gathered rows. At 4 (64
// registers) the packed kernels spilled.
constexpr int kMinBlocksPerSm = 3;

// Each lane holds kElems accumulators per pass over a head's width. Rows whose width and address allow it move
// as 16-byte packs (kVector: 2 doubles, 4 floats, 8 halves per load), others one element at a time.
constexpr int kElems = 8;

template <typename T, bool kVector>
struct PackShape {
  static constexpr int kVec = kVector ? static_cast<int>(16 / sizeof(T)) : 1;  // elements per load
  static constexpr int kPacks = kElems / kVec;                                 // loads per lane and pass
};

template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

template <int kVec, typename T>
__device__ __forceinline__ void load_pack(const T* __restrict__ p, GatAcc<T>* out) {
  const Pack<T, kVec> pack = *reinterpret_cast<const Pack<T, kVec>*>(p);
#pragma unroll
  for (int j = 0; j < kVec; ++j) out[j] = to_acc(pack.v[j]);
}

template <int kVec, typename T>
__device__ __forceinline__ void store_pack(T* __restrict__ p, const GatAcc<T>* in) {  // T may be GatAcc itself
  Pack<T, kVec> pack;
#pragma unroll
  for (int j = 0; j < kVec; ++j) pack.v[j] = from_acc<T>(in[j]);
  *reinterpret_cast<Pack<T, kVec>*>(p) = pack;
}

// The first column of a lane's pack p in the pass starting at column c0: the group's lanes cover consecutive packs,
// so each load instruction of the group reads one contiguous span of the row.
template <int kGroup, int kVec>
__device__ __forceinline__ int64_t pack_column(int64_t c0, int p, int lane) {
  return c0 + (static_cast<int64_t>(p) * kGroup + lane) * kVec;
}

// Edges whose rows a lane loads before it multiplies any of them: the loads of a batch are all in flight at once.
// Two keep the packed kernels within the register cap above without spilling.
constexpr int kBatch = 2;

// acc += w_k * rows[index_k * H + h][this lane's columns of the pass at c0] for the n <= kGroup edges of one
// chunk, edge k's (index, weight) held by lane k: each batch of edges issues all its row loads before the first
// multiply-add. A dropped edge (weight 0) loads nothing.
template <int kGroup, bool kVector, typename T>
__device__ __forceinline__ void accumulate_chunk(const T* __restrict__ rows, int64_t index, GatAcc<T> w, int n,
                                                 int64_t H, int64_t h, int64_t D, int64_t c0, int lane, unsigned mask,
                                                 GatAcc<T> (&acc)[kElems]) {
  using Acc = GatAcc<T>;
  constexpr int kVec = PackShape<T, kVector>::kVec, kPacks = PackShape<T, kVector>::kPacks;
  constexpr int kB = kBatch;
#pragma unroll
  for (int k0 = 0; k0 < kGroup; k0 += kB) {
    if (k0 >= n) break;
    Acc v[kB][kElems];
    Acc w_k[kB];
#pragma unroll
    for (int k = 0; k < kB; ++k) {
      const int64_t index_k = __shfl_sync(mask, index, k0 + k, kGroup);
      w_k[k] = __shfl_sync(mask, w, k0 + k, kGroup);
      const bool live = k0 + k < n && w_k[k] != 0;
      const T* row = rows + (index_k * H + h) * D;
#pragma unroll
      for (int p = 0; p < kPacks; ++p) {
        const int64_t col = pack_column<kGroup, kVec>(c0, p, lane);
        if (live && col < D) {
          load_pack<kVec>(row + col, &v[k][p * kVec]);
        } else {
#pragma unroll
          for (int j = 0; j < kVec; ++j) v[k][p * kVec + j] = 0;
        }
      }
    }
#pragma unroll
    for (int k = 0; k < kB; ++k) {
      const Acc wk = k0 + k < n ? w_k[k] : Acc(0);
#pragma unroll
      for (int t = 0; t < kElems; ++t) acc[t] += wk * v[k][t];
    }
  }
}

// Writes this lane's columns of the pass at c0, plus the bias (H x D, may be null) in the accumulation type, to a
// row of T or (a slice's partial row) of the accumulation type; the lane layout is T's either way.
template <int kGroup, bool kVector, typename T, typename Out>
__device__ __forceinline__ void store_row(Out* __restrict__ out_row, const T* __restrict__ bias_row, int64_t D,
                                          int64_t c0, int lane, GatAcc<T> (&acc)[kElems]) {
  static_assert(std::is_same_v<Out, T> || std::is_same_v<Out, GatAcc<T>>);
  constexpr int kVec = PackShape<T, kVector>::kVec, kPacks = PackShape<T, kVector>::kPacks;
#pragma unroll
  for (int p = 0; p < kPacks; ++p) {
    const int64_t col = pack_column<kGroup, kVec>(c0, p, lane);
    if (col < D) {
      if (bias_row != nullptr) {
        GatAcc<T> b[kVec];
        load_pack<kVec>(bias_row + col, b);
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[p * kVec + j] += b[j];
      }
      store_pack<kVec, Out>(out_row + col, &acc[p * kVec]);
    }
  }
}

// The largest k in [0, n) with ptr[k] <= x, for a non-decreasing ptr with ptr[0] <= x < ptr[n].
__device__ __forceinline__ int64_t bisect(const int64_t* __restrict__ ptr, int64_t n, int64_t x) {
  int64_t lo = 0, hi = n;
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (ptr[mid] <= x) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

// The j-th long segment, if there are more than j.
__device__ __forceinline__ bool long_segment(const GatSlices& slices, int64_t segments, int64_t j, int64_t& segment) {
  if (j >= slices.long_rank[segments]) return false;
  segment = bisect(slices.long_rank, segments, j);
  return true;
}

// The rows of the sliced segments: each (segment, head) with partial rows long_ptr[s] .. long_ptr[s + 1] adds
// them in slice order, plus the bias, into its output row. Other segments were written by the first kernel.
template <int kGroup, bool kVector, typename T>
__global__ void __launch_bounds__(kThreadsPerBlock, kMinBlocksPerSm)
    slice_sum_kernel(GatSlices slices, int64_t segments, int64_t H, int64_t D, const GatAcc<T>* __restrict__ partial,
                     const T* __restrict__ bias, T* __restrict__ out) {
  using Acc = GatAcc<T>;
  constexpr int kVec = PackShape<T, kVector>::kVec, kPacks = PackShape<T, kVector>::kPacks;
  const int lane = threadIdx.x % kGroup;
  const int64_t groups = slices.long_bound * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  for (int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; item < groups;
       item += stride) {
    int64_t segment;
    if (!long_segment(slices, segments, item / H, segment)) continue;
    const int64_t h = item % H, g = segment * H + h;
    const int64_t first = slices.long_ptr[segment], last = slices.long_ptr[segment + 1];
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kElems) {
      Acc acc[kElems];
#pragma unroll
      for (int t = 0; t < kElems; ++t) acc[t] = 0;
      for (int64_t slot = first; slot < last; ++slot) {
        const Acc* row = partial + (slot * H + h) * D;
#pragma unroll
        for (int p = 0; p < kPacks; ++p) {
          const int64_t col = pack_column<kGroup, kVec>(c0, p, lane);
          if (col < D) {
            Acc v[kVec];
            load_pack<kVec, Acc>(row + col, v);
#pragma unroll
            for (int j = 0; j < kVec; ++j) acc[p * kVec + j] += v[j];
          }
        }
      }
      store_row<kGroup, kVector, T>(out + g * D, bias == nullptr ? nullptr : bias + h * D, D, c0, lane, acc);
    }
  }
}

// Work item `item` of a sliced launch over the segments delimited by ptr, of H heads each: the first
// slot_bound * H items are the slices of long segments (found by bisecting long_ptr; those past the last are
// false, as the launch covers a bound, not the exact count), the next segments * H each short (segment, head)
// (false for a long one, whose slices came first).
__device__ __forceinline__ bool slice_item(const GatSlices& slices, const int64_t* __restrict__ ptr, int64_t segments,
                                           int64_t H, int64_t item, int64_t& segment, int64_t& h, int64_t& slice) {
  const int64_t slots = slices.slot_bound * H;
  h = item % H;
  if (item >= slots) {
    segment = (item - slots) / H;
    slice = 0;
    return ptr[segment + 1] - ptr[segment] <= kGatSliceEdges;
  }
  const int64_t x = item / H;
  if (x >= slices.long_ptr[segments]) return false;
  segment = bisect(slices.long_ptr, segments, x);
  slice = x - slices.long_ptr[segment];
  return true;
}

// The edges [lo, hi) of a slice of segment [b, e), and whether the segment is sliced (its sum goes to a partial
// row). A segment of kGatSliceEdges or fewer edges is one slice.
__device__ __forceinline__ bool slice_range(int64_t b, int64_t e, int64_t slice, int64_t& lo, int64_t& hi) {
  if (e - b <= kGatSliceEdges) {
    lo = b;
    hi = e;
    return false;
  }
  lo = b + slice * kGatSliceEdges;
  hi = lo + kGatSliceEdges < e ? lo + kGatSliceEdges : e;
  return true;
}

// Edges a lane takes per trip of the log-sum-exp pass: their index and el loads overlap.
constexpr int kLseUnroll = 4;

// One group of kGroup lanes per (row, head). First, with lanes over the row's edges, the row's log-sum-exp (each
// lane an online softmax over its edges, kLseUnroll at a time, then merged); then, a chunk of kGroup edges at a
// time, each lane draws one edge's normalised, dropped-out weight and the group accumulates the chunk's source
// rows. The next chunk's indices and el are loaded before the current chunk's rows, so a long row's trips do not
// wait on them. Edge scalars (logit, exponential, Philox) are computed once per edge, not once per lane.
template <int kGroup, bool kVector, typename T>
__global__ void __launch_bounds__(kThreadsPerBlock, kMinBlocksPerSm)
    forward_kernel(GatAttentionShape s, GatSlices slices, const T* __restrict__ feat, const T* __restrict__ el,
                   const T* __restrict__ er, const T* __restrict__ bias, T* __restrict__ out,
                   GatAcc<T>* __restrict__ lse, GatAcc<T>* __restrict__ partial) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, D = s.dim, items = (slices.slot_bound + s.num_rows) * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const Acc slope = static_cast<Acc>(s.negative_slope);
  const float rate = static_cast<float>(s.dropout);
  const Acc keep_scale = s.dropout > 0 ? Acc(1) / (Acc(1) - static_cast<Acc>(s.dropout)) : Acc(1);
  for (int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; item < items;
       item += stride) {
    int64_t r, h, slice;
    if (!slice_item(slices, s.indptr, s.num_rows, H, item, r, h, slice)) continue;
    const int64_t g = r * H + h;
    const int64_t b = s.indptr[r], e = s.indptr[r + 1];
    int64_t lo, hi;
    const bool sliced = slice_range(b, e, slice, lo, hi);
    const Acc er_rh = to_acc(er[g]);
    // Every slice of a row needs the whole row's log-sum-exp (el is small and stays in L2).
    Acc m = -INFINITY, sum = 0;
    for (int64_t base = b + lane; base < e; base += kGroup * kLseUnroll) {
      int64_t src[kLseUnroll];
#pragma unroll
      for (int u = 0; u < kLseUnroll; ++u) {
        const int64_t i = base + u * kGroup;
        src[u] = i < e ? s.indices[i] : -1;
      }
      Acc el_u[kLseUnroll];
#pragma unroll
      for (int u = 0; u < kLseUnroll; ++u) el_u[u] = src[u] >= 0 ? to_acc(el[src[u] * H + h]) : Acc(0);
#pragma unroll
      for (int u = 0; u < kLseUnroll; ++u) {
        if (src[u] < 0) continue;
        const Acc z = leaky_relu(el_u[u] + er_rh, slope);
        if (z > m) {
          sum = sum * device_exp(m - z) + Acc(1);
          m = z;
        } else {
          sum += device_exp(z - m);
        }
      }
    }
    const Acc row_max = masked_group_max<kGroup>(m, mask);
    const Acc row_sum = masked_group_sum<kGroup>(m == -INFINITY ? Acc(0) : sum * device_exp(m - row_max), mask);
    const Acc row_lse = row_sum > 0 ? row_max + device_log(row_sum) : -INFINITY;
    if (lane == 0 && slice == 0) lse[g] = row_lse;
    // The weight of edge i (from source src, whose el is el_src) on this lane; 0 past the row's end or dropped.
    const auto weight = [&](int64_t i, int64_t src, Acc el_src) -> Acc {
      if (src < 0 || !(rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate))) return Acc(0);
      return device_exp(leaky_relu(el_src + er_rh, slope) - row_lse) * keep_scale;
    };
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kElems) {
      Acc acc[kElems];
#pragma unroll
      for (int t = 0; t < kElems; ++t) acc[t] = 0;
      int64_t src = lo + lane < hi ? s.indices[lo + lane] : -1;
      Acc w = weight(lo + lane, src, src >= 0 ? to_acc(el[src * H + h]) : Acc(0));
      for (int64_t base = lo; base < hi; base += kGroup) {
        const int64_t next = base + kGroup + lane;
        const int64_t src_next = next < hi ? s.indices[next] : -1;
        const Acc el_next = src_next >= 0 ? to_acc(el[src_next * H + h]) : Acc(0);
        const int n = static_cast<int>(hi - base < kGroup ? hi - base : kGroup);
        accumulate_chunk<kGroup, kVector, T>(feat, src < 0 ? 0 : src, w, n, H, h, D, c0, lane, mask, acc);
        src = src_next;
        w = weight(next, src_next, el_next);
      }
      if (sliced) {
        store_row<kGroup, kVector, T>(partial + ((slices.long_ptr[r] + slice) * H + h) * D, nullptr, D, c0, lane, acc);
      } else {
        store_row<kGroup, kVector, T>(out + g * D, bias == nullptr ? nullptr : bias + h * D, D, c0, lane, acc);
      }
    }
  }
}

// This lane's share of <go, f> over the pass at c0: its packs of both rows (f may be null: a dead edge, 0).
template <int kGroup, bool kVector, typename T>
__device__ __forceinline__ GatAcc<T> partial_dot(const GatAcc<T> (&go)[kElems], const T* __restrict__ f, int64_t D,
                                                 int64_t c0, int lane) {
  constexpr int kVec = PackShape<T, kVector>::kVec, kPacks = PackShape<T, kVector>::kPacks;
  GatAcc<T> v[kElems];
#pragma unroll
  for (int p = 0; p < kPacks; ++p) {
    const int64_t col = pack_column<kGroup, kVec>(c0, p, lane);
    if (f != nullptr && col < D) {
      load_pack<kVec>(f + col, &v[p * kVec]);
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) v[p * kVec + j] = 0;
    }
  }
  GatAcc<T> dot = 0;
#pragma unroll
  for (int t = 0; t < kElems; ++t) dot += go[t] * v[t];
  return dot;
}

// The second pass of a row's backward, each lane over the edges it wrote in the first (b + lane, b + lane + kGroup,
// ...): the products grad_a become the logit gradients a * (grad_a - <grad_out, out>), and their sum is er's.
template <int kGroup, typename T>
__device__ __forceinline__ void finish_row(const GatAttentionShape& s, const T* __restrict__ el, int64_t b, int64_t e,
                                           int64_t h, int64_t g, GatAcc<T> er_rh, GatAcc<T> lse_rh, GatAcc<T> dot_out,
                                           int lane, unsigned mask, GatAcc<T>* __restrict__ grad_logit,
                                           GatAcc<T>* __restrict__ grad_er) {
  using Acc = GatAcc<T>;
  const int64_t H = s.heads;
  const Acc slope = static_cast<Acc>(s.negative_slope);
  Acc grad_er_part = 0;
  for (int64_t i = b + lane; i < e; i += kGroup) {
    const Acc pre = to_acc(el[s.indices[i] * H + h]) + er_rh;
    const Acc grad_z = device_exp(leaky_relu(pre, slope) - lse_rh) * (grad_logit[i * H + h] - dot_out);
    const Acc grad_pre = pre > 0 ? grad_z : grad_z * slope;
    grad_logit[i * H + h] = grad_pre;
    grad_er_part += grad_pre;
  }
  const Acc grad_er_rh = masked_group_sum<kGroup>(grad_er_part, mask);
  if (lane == 0) grad_er[g] = grad_er_rh;
}

// One group per (row, head), lanes over the row's edges a chunk of kGroup at a time. Per chunk: each lane's share
// of <grad_out, feat[src]> for every edge of the chunk (grad_out's columns held in registers, the chunk's source
// rows loaded a batch at a time), reduced so that lane k holds edge k's product; then, per edge, the attention and
// its gradient k * <grad_out, feat[src]>, whose attention-weighted sum is the row's <grad_out, out> (the output
// itself is not needed). finish_row then turns them into the logit gradients. A row of more than kGatSliceEdges
// edges is taken a slice per group: each writes its share of <grad_out, out> to dot_shares, and
// backward_finish_kernel finishes the row.
template <int kGroup, bool kVector, typename T>
__global__ void __launch_bounds__(kThreadsPerBlock, kGroup == 32 ? 2 : kMinBlocksPerSm)  // 32 sums in registers
    backward_kernel(GatAttentionShape s, GatSlices slices, const T* __restrict__ feat, const T* __restrict__ el,
                    const T* __restrict__ er, const GatAcc<T>* __restrict__ lse, const T* __restrict__ grad_out,
                    GatAcc<T>* __restrict__ attention, GatAcc<T>* __restrict__ grad_logit,
                    GatAcc<T>* __restrict__ grad_er, GatAcc<T>* __restrict__ dot_shares) {
  using Acc = GatAcc<T>;
  constexpr int kVec = PackShape<T, kVector>::kVec, kPacks = PackShape<T, kVector>::kPacks;
  constexpr int kB = kBatch;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, D = s.dim, items = (slices.slot_bound + s.num_rows) * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  const Acc slope = static_cast<Acc>(s.negative_slope);
  const float rate = static_cast<float>(s.dropout);
  const Acc keep_scale = s.dropout > 0 ? Acc(1) / (Acc(1) - static_cast<Acc>(s.dropout)) : Acc(1);
  for (int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; item < items;
       item += stride) {
    int64_t r, h, slice;
    if (!slice_item(slices, s.indptr, s.num_rows, H, item, r, h, slice)) continue;
    const int64_t g = r * H + h;
    const int64_t b = s.indptr[r], e = s.indptr[r + 1];
    int64_t lo, hi;
    const bool sliced = slice_range(b, e, slice, lo, hi);
    const T* go_row = grad_out + g * D;
    const Acc er_rh = to_acc(er[g]), lse_rh = lse[g];
    Acc dot_out_part = 0;
    for (int64_t base = lo; base < hi; base += kGroup) {
      const int64_t i = base + lane;
      int64_t src = 0;
      Acc a = 0, k = 0;
      if (i < hi) {
        src = s.indices[i];
        a = device_exp(leaky_relu(to_acc(el[src * H + h]) + er_rh, slope) - lse_rh);
        k = rate <= 0 || philox_keep(s.seed, s.offset, i, h, H, rate) ? keep_scale : Acc(0);
      }
      const int n = static_cast<int>(hi - base < kGroup ? hi - base : kGroup);
      Acc part[kGroup];
#pragma unroll
      for (int t = 0; t < kGroup; ++t) part[t] = 0;
      for (int64_t c0 = 0; c0 < D; c0 += kGroup * kElems) {
        Acc go[kElems];
#pragma unroll
        for (int p = 0; p < kPacks; ++p) {
          const int64_t col = pack_column<kGroup, kVec>(c0, p, lane);
          if (col < D) {
            load_pack<kVec>(go_row + col, &go[p * kVec]);
          } else {
#pragma unroll
            for (int j = 0; j < kVec; ++j) go[p * kVec + j] = 0;
          }
        }
#pragma unroll
        for (int t0 = 0; t0 < kGroup; t0 += kB) {
          if (t0 >= n) break;
#pragma unroll
          for (int t = t0; t < t0 + kB; ++t) {
            const int64_t src_t = __shfl_sync(mask, src, t, kGroup);
            const Acc k_t = __shfl_sync(mask, k, t, kGroup);
            const T* f = t < n && k_t != 0 ? feat + (src_t * H + h) * D : nullptr;
            part[t] += partial_dot<kGroup, kVector, T>(go, f, D, c0, lane);
          }
        }
      }
      const Acc grad_a = k * transposed_group_sum<kGroup>(part, lane, mask);
      if (i < hi) {
        dot_out_part += a * grad_a;
        attention[i * H + h] = a * k;
        grad_logit[i * H + h] = grad_a;
      }
    }
    const Acc dot_out = masked_group_sum<kGroup>(dot_out_part, mask);
    if (sliced) {
      if (lane == 0) dot_shares[(slices.long_ptr[r] + slice) * H + h] = dot_out;
    } else {
      finish_row<kGroup, T>(s, el, b, e, h, g, er_rh, lse_rh, dot_out, lane, mask, grad_logit, grad_er);
    }
  }
}

// The sliced rows' second pass: <grad_out, out> is the sum of the slices' shares, in slice order.
template <int kGroup, typename T>
__global__ void __launch_bounds__(kThreadsPerBlock, kMinBlocksPerSm)
    backward_finish_kernel(GatAttentionShape s, GatSlices slices, const T* __restrict__ el, const T* __restrict__ er,
                           const GatAcc<T>* __restrict__ lse, const GatAcc<T>* __restrict__ dot_shares,
                           GatAcc<T>* __restrict__ grad_logit, GatAcc<T>* __restrict__ grad_er) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, groups = slices.long_bound * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  for (int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; item < groups;
       item += stride) {
    int64_t r;
    if (!long_segment(slices, s.num_rows, item / H, r)) continue;
    const int64_t h = item % H, g = r * H + h;
    const int64_t first = slices.long_ptr[r], last = slices.long_ptr[r + 1];
    Acc dot_out = 0;
    for (int64_t slot = first; slot < last; ++slot) dot_out += dot_shares[slot * H + h];
    finish_row<kGroup, T>(s, el, s.indptr[r], s.indptr[r + 1], h, g, to_acc(er[g]), lse[g], dot_out, lane, mask,
                          grad_logit, grad_er);
  }
}

// The transposed aggregation, grad_feat[c, h, :] = sum over edges e = (c -> r) of attention[e, h] *
// grad_out[r, h, :]: one group per (source, head) over the source's edges in `order` (the edges sorted by
// source), a chunk of kGroup at a time as in the forward, the next chunk's (row, weight) loaded first.
template <int kGroup, bool kVector, typename T>
__global__ void __launch_bounds__(kThreadsPerBlock, kMinBlocksPerSm)
    transposed_kernel(GatTransposedShape s, GatSlices slices, const GatAcc<T>* __restrict__ attention,
                      const T* __restrict__ grad_out, T* __restrict__ grad_feat, GatAcc<T>* __restrict__ partial) {
  using Acc = GatAcc<T>;
  const int lane = threadIdx.x % kGroup;
  const unsigned mask = group_mask<kGroup>();
  const int64_t H = s.heads, D = s.dim, items = (slices.slot_bound + s.num_cols) * H;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x / kGroup;
  for (int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kGroup; item < items;
       item += stride) {
    int64_t c, h, slice;
    if (!slice_item(slices, s.col_ptr, s.num_cols, H, item, c, h, slice)) continue;
    const int64_t g = c * H + h;
    int64_t b, e;
    const bool sliced = slice_range(s.col_ptr[c], s.col_ptr[c + 1], slice, b, e);
    // Edge k of the slice (k < e) as (row, weight); (0, 0) past the end.
    const auto edge_at = [&](int64_t k, int64_t& row, Acc& w) {
      row = 0;
      w = 0;
      if (k < e) {
        const int64_t edge = s.order[k];
        row = s.edge_rows[edge];
        w = attention[edge * H + h];
      }
    };
    for (int64_t c0 = 0; c0 < D; c0 += kGroup * kElems) {
      Acc acc[kElems];
#pragma unroll
      for (int t = 0; t < kElems; ++t) acc[t] = 0;
      int64_t row;
      Acc w;
      edge_at(b + lane, row, w);
      for (int64_t base = b; base < e; base += kGroup) {
        int64_t row_next;
        Acc w_next;
        edge_at(base + kGroup + lane, row_next, w_next);
        const int n = static_cast<int>(e - base < kGroup ? e - base : kGroup);
        accumulate_chunk<kGroup, kVector, T>(grad_out, row, w, n, H, h, D, c0, lane, mask, acc);
        row = row_next;
        w = w_next;
      }
      if (sliced) {
        store_row<kGroup, kVector, T>(partial + ((slices.long_ptr[c] + slice) * H + h) * D, nullptr, D, c0, lane, acc);
      } else {
        store_row<kGroup, kVector, T>(grad_feat + g * D, nullptr, D, c0, lane, acc);
      }
    }
  }
}

// Lanes per (row, head): with 16-byte packs, enough for kElems columns each, a power of two from 4 to 32 (wider
// heads take several passes). The element-by-element fallback (a width that is not a whole number of packs, or
// a row pointer not 16-byte aligned) always takes 8 lanes: it is rare, and one lane count keeps the build short.
template <typename T, typename Launch>
void with_lanes(int64_t dim, std::initializer_list<const void*> rows, const GatAcc<T>* partial, const Launch& launch) {
  constexpr int kVec = PackShape<T, true>::kVec;
  const auto aligned = [](const void* p, size_t bytes) {
    return p == nullptr || reinterpret_cast<uintptr_t>(p) % bytes == 0;
  };
  bool vector = dim % kVec == 0 && aligned(partial, sizeof(GatAcc<T>) * kVec);
  for (const void* p : rows) vector = vector && aligned(p, 16);
  if (!vector) {
    launch(std::integral_constant<int, 8>{}, std::false_type{});
    return;
  }
  with_lane_group((dim + kElems - 1) / kElems, [&](auto group) { launch(group, std::true_type{}); });
}

__global__ void slice_counts_kernel(const int64_t* __restrict__ ptr, int64_t segments, int64_t* __restrict__ counts) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i <= segments; i += stride) {
    if (i == 0) {
      counts[0] = 0;
      counts[segments + 1] = 0;
      continue;
    }
    const int64_t degree = ptr[i] - ptr[i - 1];
    const bool is_long = degree > kGatSliceEdges;
    counts[i] = is_long ? (degree + kGatSliceEdges - 1) / kGatSliceEdges : 0;
    counts[segments + 1 + i] = is_long ? 1 : 0;
  }
}

}  // namespace

void launch_gat_slice_counts(const int64_t* ptr, int64_t segments, int64_t* counts, cudaStream_t stream) {
  slice_counts_kernel<<<num_blocks(segments + 1), kThreadsPerBlock, 0, stream>>>(ptr, segments, counts);
  GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention slice_counts_kernel");
}

template <typename T>
void launch_gat_attention_forward(const GatAttentionShape& shape, const GatSlices& slices, const T* feat, const T* el,
                                  const T* er, const T* bias, T* out, GatAcc<T>* lse, GatAcc<T>* partial,
                                  cudaStream_t stream) {
  if (empty_launch(shape.num_rows * shape.heads)) return;
  with_lanes<T>(shape.dim, {feat, bias, out}, partial, [&](auto group, auto vector) {
    constexpr int kGroup = decltype(group)::value;
    constexpr bool kVector = decltype(vector)::value;
    forward_kernel<kGroup, kVector, T>
        <<<num_blocks((slices.slot_bound + shape.num_rows) * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            shape, slices, feat, el, er, bias, out, lse, partial);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention forward_kernel");
    if (partial == nullptr) return;
    slice_sum_kernel<kGroup, kVector, T>
        <<<num_blocks(slices.long_bound * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            slices, shape.num_rows, shape.heads, shape.dim, partial, bias, out);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention slice_sum_kernel");
  });
}

template <typename T>
void launch_gat_attention_backward(const GatAttentionShape& shape, const GatSlices& slices, const T* feat, const T* el,
                                   const T* er, const GatAcc<T>* lse, const T* grad_out, GatAcc<T>* attention,
                                   GatAcc<T>* grad_logit, GatAcc<T>* grad_er, GatAcc<T>* dot_shares,
                                   cudaStream_t stream) {
  if (empty_launch(shape.num_rows * shape.heads)) return;
  with_lanes<T>(shape.dim, {feat, grad_out}, nullptr, [&](auto group, auto vector) {
    constexpr int kGroup = decltype(group)::value;
    constexpr bool kVector = decltype(vector)::value;
    backward_kernel<kGroup, kVector, T>
        <<<num_blocks((slices.slot_bound + shape.num_rows) * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            shape, slices, feat, el, er, lse, grad_out, attention, grad_logit, grad_er, dot_shares);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention backward_kernel");
    if (dot_shares == nullptr) return;
    backward_finish_kernel<kGroup, T>
        <<<num_blocks(slices.long_bound * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            shape, slices, el, er, lse, dot_shares, grad_logit, grad_er);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention backward_finish_kernel");
  });
}

template <typename T>
void launch_gat_attention_transposed(const GatTransposedShape& shape, const GatSlices& slices,
                                     const GatAcc<T>* attention, const T* grad_out, T* grad_feat, GatAcc<T>* partial,
                                     cudaStream_t stream) {
  if (empty_launch(shape.num_cols * shape.heads * shape.dim)) return;
  with_lanes<T>(shape.dim, {grad_out, grad_feat}, partial, [&](auto group, auto vector) {
    constexpr int kGroup = decltype(group)::value;
    constexpr bool kVector = decltype(vector)::value;
    transposed_kernel<kGroup, kVector, T>
        <<<num_blocks((slices.slot_bound + shape.num_cols) * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            shape, slices, attention, grad_out, grad_feat, partial);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention transposed_kernel");
    if (partial == nullptr) return;
    slice_sum_kernel<kGroup, kVector, T>
        <<<num_blocks(slices.long_bound * shape.heads * kGroup), kThreadsPerBlock, 0, stream>>>(
            slices, shape.num_cols, shape.heads, shape.dim, partial, nullptr, grad_feat);
    GRAPHMAE2_CUDA_CHECK_LAUNCH("gat_attention slice_sum_kernel");
  });
}

#define GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(T)                                                                    \
  template void launch_gat_attention_forward<T>(const GatAttentionShape&, const GatSlices&, const T*, const T*,   \
                                                const T*, const T*, T*, GatAcc<T>*, GatAcc<T>*, cudaStream_t);    \
  template void launch_gat_attention_backward<T>(const GatAttentionShape&, const GatSlices&, const T*, const T*,  \
                                                 const T*, const GatAcc<T>*, const T*, GatAcc<T>*, GatAcc<T>*,    \
                                                 GatAcc<T>*, GatAcc<T>*, cudaStream_t);                           \
  template void launch_gat_attention_transposed<T>(const GatTransposedShape&, const GatSlices&, const GatAcc<T>*, \
                                                   const T*, T*, GatAcc<T>*, cudaStream_t);
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(float)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(double)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__half)
GRAPHMAE2_INSTANTIATE_GAT_ATTENTION(__nv_bfloat16)

}  // namespace graphmae2::graph::cuda
