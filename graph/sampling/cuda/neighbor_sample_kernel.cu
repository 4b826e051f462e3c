#include "graph/sampling/cuda/neighbor_sample_kernel.h"

#include "graph/cuda/common.cuh"
#include "graph/sampling/common.h"

namespace graphmae2::graph::sampling::cuda {

using graph::cuda::empty_launch;
using graph::cuda::kThreadsPerBlock;
using graph::cuda::num_blocks;
using graph::cuda::ScratchAllocator;
using graph::cuda::ScratchBuffer;

namespace {

__global__ void sample_counts_kernel(const int64_t* indptr, const float* weights, const int64_t* dst, int64_t n,
                                     int64_t fanout, int64_t* counts) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t v = dst[i];
    const int64_t degree = indptr[v + 1] - indptr[v];
    if (weights == nullptr) {
      counts[i] = sampling::sample_count(degree, fanout);
    } else {
      int64_t positive = 0;
      for (int64_t e = indptr[v]; e < indptr[v + 1]; ++e) positive += weights[e] > 0.0f;
      counts[i] = fanout < 0 || positive < fanout ? positive : fanout;
    }
  }
}

// One thread per destination: the same draws as the CPU kernel (graph/sampling/common.h), written straight into
// the destination's output slice, which also serves as the membership list of Floyd's algorithm.
__global__ void sample_neighbors_kernel(const int64_t* indptr, const int64_t* indices, const float* weights,
                                        const int64_t* dst, int64_t n, int64_t fanout, uint64_t seed,
                                        uint64_t stream_id, const int64_t* out_indptr, int64_t* out_edge_ids,
                                        int64_t* out_src, double* keys) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t v = dst[i];
    const int64_t degree = indptr[v + 1] - indptr[v];
    const int64_t begin = out_indptr[i];
    sampling::RandomStream rng(seed, stream_id, static_cast<uint64_t>(v));
    if (weights == nullptr) {
      sampling::sample_positions_uniform(rng, degree, fanout, out_edge_ids + begin);
    } else {
      sampling::sample_positions_weighted(rng, weights + indptr[v], degree, fanout, out_edge_ids + begin, keys + begin);
    }
    for (int64_t j = begin; j < out_indptr[i + 1]; ++j) {
      out_edge_ids[j] += indptr[v];
      out_src[j] = indices[out_edge_ids[j]];
    }
  }
}

}  // namespace

void launch_sample_counts(const int64_t* indptr, const float* weights, const int64_t* dst, int64_t n, int64_t fanout,
                          int64_t* counts, cudaStream_t stream) {
  if (empty_launch(n)) return;
  sample_counts_kernel<<<num_blocks(n), kThreadsPerBlock, 0, stream>>>(indptr, weights, dst, n, fanout, counts);
  GRAPHMAE2_CUDA_CHECK_LAUNCH("sample_counts_kernel");
}

void launch_sample_neighbors(const int64_t* indptr, const int64_t* indices, const float* weights, const int64_t* dst,
                             int64_t n, int64_t fanout, uint64_t seed, uint64_t stream_id, const int64_t* out_indptr,
                             int64_t num_out_edges, int64_t* out_edge_ids, int64_t* out_src,
                             const ScratchAllocator& allocator, cudaStream_t stream) {
  if (empty_launch(n)) return;
  // Weighted draws keep one key per output slot (each destination's slice of the output is its reservoir).
  ScratchBuffer keys(allocator, weights != nullptr ? sizeof(double) * static_cast<size_t>(num_out_edges) : 0, stream);
  // Small blocks: per-thread work is skewed by the degree, so many blocks keep the SMs busy.
  constexpr int kThreads = 128;
  sample_neighbors_kernel<<<num_blocks(n, kThreads), kThreads, 0, stream>>>(
      indptr, indices, weights, dst, n, fanout, seed, stream_id, out_indptr, out_edge_ids, out_src, keys.as<double>());
  GRAPHMAE2_CUDA_CHECK_LAUNCH("sample_neighbors_kernel");
}

}  // namespace graphmae2::graph::sampling::cuda
