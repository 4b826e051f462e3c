#pragma once
// Raw-pointer launcher of the random_walk CUDA kernel (graph/sampling/cuda/random_walk_kernel.cu): one thread per
// walk running graph/sampling/common.h's random_walk. Device pointers; asynchronous on `stream`.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace graphmae2::graph::sampling::cuda {

/// walks [num_walks, walk_length + 1], row i from roots[i].
void launch_random_walk(const int64_t* indptr, const int64_t* indices, const int64_t* roots, int64_t num_walks,
                        int64_t walk_length, uint64_t seed, int64_t* walks, cudaStream_t stream);

}  // namespace graphmae2::graph::sampling::cuda
