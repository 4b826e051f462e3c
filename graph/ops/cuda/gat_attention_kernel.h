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

/// out [R, H, D], lse [R, H] from feat [C, H, D], el [C, H], er [R, H]; bias [H, D] (null for none) is added to
/// each output row in the accumulation type before the row is rounded to T.
template <typename T>
void launch_gat_attention_forward(const GatAttentionShape& shape, const T* feat, const T* el, const T* er,
                                  const T* bias, T* out, GatAcc<T>* lse, cudaStream_t stream);

/// Per edge: attention [E, H] (after dropout) and logit gradient [E, H]; per row grad_er [R, H]. The forward's
/// output is not read: each row's <grad_out, out> is summed from the per-edge products.
template <typename T>
void launch_gat_attention_backward(const GatAttentionShape& shape, const T* feat, const T* el, const T* er,
                                   const GatAcc<T>* lse, const T* grad_out, GatAcc<T>* attention,
                                   GatAcc<T>* grad_logit, GatAcc<T>* grad_er, cudaStream_t stream);

/// grad_feat [C, H, D] = the aggregation of grad_out [R, H, D] over the transposed graph with the weights
/// attention [E, H]; every row of grad_feat is written (zeros for a source without edges).
template <typename T>
void launch_gat_attention_transposed(const GatTransposedShape& shape, const GatAcc<T>* attention, const T* grad_out,
                                     T* grad_feat, cudaStream_t stream);

}  // namespace graphmae2::graph::cuda
