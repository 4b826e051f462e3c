#pragma once
// Raw-pointer launchers of the spmm CUDA kernels (graph/ops/cuda/spmm_kernel.cu).
// Device pointers, contiguous; asynchronous on `stream`.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace graphmae2::graph::cuda {

/// out[r, h, :] = sum_{e in row r} w[e, h] * x[indices[e], h, :]; out [num_rows, H, F] is fully written.
/// Throws std::invalid_argument when H * F exceeds the grid (16.7M columns).
void launch_spmm_forward(const int64_t* indptr, const int64_t* indices, const float* w, const float* x,
                         int64_t num_rows, int64_t H, int64_t F, float* out, cudaStream_t stream);
void launch_spmm_forward(const int64_t* indptr, const int64_t* indices, const double* w, const double* x,
                         int64_t num_rows, int64_t H, int64_t F, double* out, cudaStream_t stream);

/// grad_w[e, h] = <grad_out[row(e), h, :], x[indices[e], h, :]>, grad_w [num_edges, H].
void launch_spmm_weights_grad(const int64_t* indptr, const int64_t* indices, const float* x, const float* grad_out,
                              int64_t num_rows, int64_t num_edges, int64_t H, int64_t F, float* grad_w,
                              cudaStream_t stream);
void launch_spmm_weights_grad(const int64_t* indptr, const int64_t* indices, const double* x, const double* grad_out,
                              int64_t num_rows, int64_t num_edges, int64_t H, int64_t F, double* grad_w,
                              cudaStream_t stream);

}  // namespace graphmae2::graph::cuda
