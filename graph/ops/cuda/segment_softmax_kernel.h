#pragma once
// Raw-pointer launchers of the segment_softmax CUDA kernels (graph/ops/cuda/segment_softmax_kernel.cu).
// Device pointers, contiguous; asynchronous on `stream`.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace graphmae2::graph::cuda {

/// out[e, h] = softmax of scores[., h] over the edges of e's row; scores/out [num_edges, H], indptr [num_rows + 1].
void launch_segment_softmax_forward(const float* scores, const int64_t* indptr, int64_t num_rows, int64_t num_edges,
                                    int64_t H, float* out, cudaStream_t stream);
void launch_segment_softmax_forward(const double* scores, const int64_t* indptr, int64_t num_rows, int64_t num_edges,
                                    int64_t H, double* out, cudaStream_t stream);

/// grad_in = out * (grad_out - rowsum(out * grad_out)), all [num_edges, H].
void launch_segment_softmax_backward(const float* out, const float* grad_out, const int64_t* indptr, int64_t num_rows,
                                     int64_t num_edges, int64_t H, float* grad_in, cudaStream_t stream);
void launch_segment_softmax_backward(const double* out, const double* grad_out, const int64_t* indptr, int64_t num_rows,
                                     int64_t num_edges, int64_t H, double* grad_in, cudaStream_t stream);

}  // namespace graphmae2::graph::cuda
