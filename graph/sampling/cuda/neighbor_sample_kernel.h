#pragma once
// Raw-pointer launchers of the neighbor_sample CUDA kernels (graph/sampling/cuda/neighbor_sample_kernel.cu): one
// thread per destination running graph/sampling/common.h's draws. Device pointers; asynchronous on `stream`.

#include "graph/cuda/runtime.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace graphmae2::graph::sampling::cuda {

/// counts[i] = edges destination dst[i] keeps (min(fanout, degree), or of positive weight when weights != null).
void launch_sample_counts(const int64_t* indptr, const float* weights, const int64_t* dst, int64_t n, int64_t fanout,
                          int64_t* counts, cudaStream_t stream);

/// For each destination i: out_edge_ids[out_indptr[i] ..) = the sampled edges' positions in the parent CSR
/// (ascending), out_src[..] = their source node ids. `allocator` provides the weighted path's key scratch.
void launch_sample_neighbors(const int64_t* indptr, const int64_t* indices, const float* weights, const int64_t* dst,
                             int64_t n, int64_t fanout, uint64_t seed, uint64_t stream_id, const int64_t* out_indptr,
                             int64_t num_out_edges, int64_t* out_edge_ids, int64_t* out_src,
                             const graph::cuda::ScratchAllocator& allocator, cudaStream_t stream);

}  // namespace graphmae2::graph::sampling::cuda
