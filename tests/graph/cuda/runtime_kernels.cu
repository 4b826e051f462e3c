#include "tests/graph/cuda/runtime_kernels.h"

#include "graph/cuda/common.cuh"

namespace graphmae2::graph::cuda::testing {

namespace {

// Philox4x32-10 (Salmon et al. 2011), the generator behind curand's and torch's CUDA random numbers; written
// out so the test needs no curand headers.
__device__ uint4 philox4x32_10(uint4 c, uint2 key) {
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c.x), lo0 = 0xD2511F53u * c.x;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c.z), lo1 = 0xCD9E8D57u * c.z;
    c = make_uint4(hi1 ^ c.y ^ key.x, lo1, hi0 ^ c.w ^ key.y, lo0);
    key.x += 0x9E3779B9u;
    key.y += 0xBB67AE85u;
  }
  return c;
}

// Thread t's k-th value: counter (offset / 4 + k / 4, t), component k % 4 (curand_init(seed, t, offset)'s
// layout for an offset that is a multiple of 4, as reserve_philox's are).
__global__ void philox_fill_kernel(PhiloxState philox, int64_t threads, int64_t draws, uint32_t* out) {
  const uint2 key = make_uint2(static_cast<uint32_t>(philox.seed), static_cast<uint32_t>(philox.seed >> 32));
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < threads;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    for (int64_t k = 0; k < draws; ++k) {
      const uint64_t block = philox.offset / 4 + static_cast<uint64_t>(k) / 4;
      const uint4 c = make_uint4(static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                 static_cast<uint32_t>(t), static_cast<uint32_t>(static_cast<uint64_t>(t) >> 32));
      const uint4 r = philox4x32_10(c, key);
      const uint32_t values[4] = {r.x, r.y, r.z, r.w};
      out[t * draws + k] = values[k % 4];
    }
  }
}

}  // namespace

void launch_philox_fill(const ScratchAllocator& allocator, PhiloxState philox, int64_t threads, int64_t draws,
                        uint32_t* out, cudaStream_t stream) {
  const int64_t n = threads * draws;
  if (empty_launch(n)) return;
  ScratchBuffer scratch(allocator, static_cast<std::size_t>(n) * sizeof(uint32_t), stream);
  philox_fill_kernel<<<num_blocks(threads), kThreadsPerBlock, 0, stream>>>(philox, threads, draws,
                                                                           scratch.as<uint32_t>());
  GRAPHMAE2_CUDA_CHECK_LAUNCH("philox_fill_kernel");
  GRAPHMAE2_CUDA_CHECK(cudaMemcpyAsync(out, scratch.data(), scratch.size(), cudaMemcpyDeviceToDevice, stream));
}

}  // namespace graphmae2::graph::cuda::testing
