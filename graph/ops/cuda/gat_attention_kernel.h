#pragma once
// Raw-pointer launchers of the gat_attention CUDA kernels (graph/ops/cuda/gat_attention_kernel.cu). Device
// pointers, contiguous; asynchronous on `stream`. T is float, double, __half or __nv_bfloat16; GatAcc<T> (the
// accumulation and log-sum-exp type) is double for double, float otherwise.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <type_traits>

namespace graphmae2::graph::cuda {

template <typename T>
using GatAcc = std::conditional_t<std::is_same_v<T, double>, double, float>;

struct GatAttentionShape {
  const int64_t* indptr;   ///< [num_rows + 1]
  const int64_t* indices;  ///< [num_edges]
  int64_t num_rows, num_edges, heads, dim;
  double negative_slope, dropout;
  uint64_t seed, offset;
};

/// The transposed graph of a GatAttentionShape, for the features' gradient: `order` lists the edges sorted
/// (stably) by source, col_ptr [num_cols + 1] delimits each source's run in it, edge_rows [E] is each edge's row.
struct GatTransposedShape {
  const int64_t* col_ptr;
  const int64_t* order;
  const int64_t* edge_rows;
  int64_t num_cols, heads, dim;
};

/// Edges per slice of a long segment (a row's edges in the forward, a source's in the transposed aggregation).
/// A segment of more edges is summed by several groups of lanes, one slice each, into partial rows that a second
/// kernel adds up in slice order: a hub's sum is no longer one group's chain of dependent loads, and the result
/// stays deterministic.
constexpr int64_t kGatSliceEdges = 256;

/// Where the slices of long segments go, for segments delimited by ptr [S + 1] over E edges:
///   long_ptr [S + 1]: exclusive sum over segments of (slices if the segment is long, else 0): a long segment's
///     slice k is work item long_ptr[s] + k and writes partial row long_ptr[s] + k. These items are launched
///     before the short segments', so that a hub's slices run beside the short rows instead of after them;
///   long_rank [S + 1]: exclusive count of long segments, for the kernels that visit only those.
/// slot_bound >= long_ptr[S] (2 E / kGatSliceEdges: a long segment has more edges than slices times
/// kGatSliceEdges / 2) and long_bound >= long_rank[S] (E / kGatSliceEdges) are known without reading the device;
/// partial holds slot_bound rows of [H, D] in the accumulation type.
struct GatSlices {
  const int64_t* long_ptr;
  const int64_t* long_rank;
  int64_t slot_bound, long_bound;
};

/// counts [2, S + 1] = (long_ptr, long_rank) of the segments delimited by ptr [S + 1], once summed along dim 1
/// (the kernel writes each segment's count at s + 1 and a 0 at 0).
void launch_gat_slice_counts(const int64_t* ptr, int64_t segments, int64_t* counts, cudaStream_t stream);

/// out [R, H, D], lse [R, H] from feat [C, H, D], el [C, H], er [R, H]; bias [H, D] (null for none) is added to
/// each output row in the accumulation type before the row is rounded to T. Rows of more than kGatSliceEdges edges
/// go through `partial` (slices over indptr).
template <typename T>
void launch_gat_attention_forward(const GatAttentionShape& shape, const GatSlices& slices, const T* feat, const T* el,
                                  const T* er, const T* bias, T* out, GatAcc<T>* lse, GatAcc<T>* partial,
                                  cudaStream_t stream);

/// Per edge: attention [E, H] (after dropout) and logit gradient [E, H]; per row grad_er [R, H]. The forward's
/// output is not read: each row's <grad_out, out> is summed from the per-edge products. Rows of more than
/// kGatSliceEdges edges are summed in slices (over indptr), whose shares go through dot_shares [slots, H].
template <typename T>
void launch_gat_attention_backward(const GatAttentionShape& shape, const GatSlices& slices, const T* feat, const T* el,
                                   const T* er, const GatAcc<T>* lse, const T* grad_out, GatAcc<T>* attention,
                                   GatAcc<T>* grad_logit, GatAcc<T>* grad_er, GatAcc<T>* dot_shares,
                                   cudaStream_t stream);

/// grad_feat [C, H, D] = the aggregation of grad_out [R, H, D] over the transposed graph with the weights
/// attention [E, H]; every row of grad_feat is written (zeros for a source without edges). Sources of more than
/// kGatSliceEdges edges go through `partial` (slices over col_ptr).
template <typename T>
void launch_gat_attention_transposed(const GatTransposedShape& shape, const GatSlices& slices,
                                     const GatAcc<T>* attention, const T* grad_out, T* grad_feat, GatAcc<T>* partial,
                                     cudaStream_t stream);

}  // namespace graphmae2::graph::cuda
