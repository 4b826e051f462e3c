#pragma once
// Raw-pointer launcher of the dropout CUDA kernel (graph/ops/cuda/dropout_kernel.cu). Device pointers, contiguous;
// asynchronous on `stream`. T is float, double, __half or __nv_bfloat16.

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace graphmae2::graph::cuda {

/// out[i] = keep(i) * in[i] / (1 - rate) for i < n (in == nullptr: the scales themselves), keep(i) as
/// graph/ops/philox.h's philox_dropout_bits defines it: the mask the CPU kernel draws for the same seed and offset.
template <typename T>
void launch_dropout(const T* in, T* out, int64_t n, double rate, uint64_t seed, uint64_t offset, cudaStream_t stream);

}  // namespace graphmae2::graph::cuda
