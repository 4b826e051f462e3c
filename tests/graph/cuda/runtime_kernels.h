#pragma once
// A test kernel over graph/cuda/runtime.h (torch-free; tests/graph/test_cuda_runtime.cpp).

#include "graph/cuda/runtime.h"

#include <cstdint>

namespace graphmae2::graph::cuda::testing {

/// out[t * draws + k] = the k-th 32-bit Philox value of thread t (curand_init(seed, t, offset)), for t < threads,
/// k < draws; written to a ScratchBuffer first, then copied to `out` (device memory), all on `stream`.
void launch_philox_fill(const ScratchAllocator& allocator, PhiloxState philox, int64_t threads, int64_t draws,
                        uint32_t* out, cudaStream_t stream);

}  // namespace graphmae2::graph::cuda::testing
