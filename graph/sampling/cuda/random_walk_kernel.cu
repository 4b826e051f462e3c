#include "graph/sampling/cuda/random_walk_kernel.h"

#include "graph/cuda/common.cuh"
#include "graph/sampling/common.h"

namespace graphmae2::graph::sampling::cuda {

using graph::cuda::empty_launch;
using graph::cuda::kThreadsPerBlock;
using graph::cuda::num_blocks;

namespace {

__global__ void random_walk_kernel(const int64_t* indptr, const int64_t* indices, const int64_t* roots,
                                   int64_t num_walks, int64_t walk_length, uint64_t seed, int64_t* walks) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < num_walks;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    sampling::RandomStream rng(seed, sampling::kRandomWalkStream, static_cast<uint64_t>(i));
    sampling::random_walk(rng, indptr, indices, roots[i], walk_length, walks + i * (walk_length + 1));
  }
}

}  // namespace

void launch_random_walk(const int64_t* indptr, const int64_t* indices, const int64_t* roots, int64_t num_walks,
                        int64_t walk_length, uint64_t seed, int64_t* walks, cudaStream_t stream) {
  if (empty_launch(num_walks)) return;
  random_walk_kernel<<<num_blocks(num_walks), kThreadsPerBlock, 0, stream>>>(indptr, indices, roots, num_walks,
                                                                             walk_length, seed, walks);
  GRAPHMAE2_CUDA_CHECK_LAUNCH("random_walk_kernel");
}

}  // namespace graphmae2::graph::sampling::cuda
