// graph/cuda/runtime.h: scratch memory from torch's caching allocator and the default generator's Philox state.
// Needs a CUDA LibTorch and a GPU; skipped elsewhere.

#include <gtest/gtest.h>
#include <torch/torch.h>

#ifdef GRAPHMAE2_WITH_TORCH_CUDA
#include "graph/cuda/runtime.h"
#include "tests/graph/cuda/runtime_kernels.h"

#include <c10/cuda/CUDAStream.h>

#include <vector>
#endif

namespace graphmae2::graph::cuda {
namespace {

#ifdef GRAPHMAE2_WITH_TORCH_CUDA

#define SKIP_WITHOUT_GPU() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

TEST(CudaRuntime, ScratchBufferFromTheCachingAllocator) {
  SKIP_WITHOUT_GPU();
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const auto allocator = caching_allocator();
  ScratchBuffer empty(allocator, 0, stream);
  EXPECT_EQ(empty.data(), nullptr);
  ScratchBuffer a(allocator, 1 << 20, stream);
  ASSERT_NE(a.data(), nullptr);
  ASSERT_EQ(cudaMemsetAsync(a.data(), 0x5a, a.size(), stream), cudaSuccess);
  ScratchBuffer b = std::move(a);  // the memory moves with the buffer
  EXPECT_EQ(a.data(), nullptr);
  std::vector<unsigned char> host(b.size());
  ASSERT_EQ(cudaMemcpyAsync(host.data(), b.data(), b.size(), cudaMemcpyDeviceToHost, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(host.front(), 0x5a);
  EXPECT_EQ(host.back(), 0x5a);
}

TEST(CudaRuntime, PhiloxReservationsFollowTorchSeed) {
  SKIP_WITHOUT_GPU();
  torch::cuda::manual_seed(3);
  const auto a = reserve_philox(10);
  const auto b = reserve_philox(1);
  EXPECT_EQ(b.seed, a.seed);
  EXPECT_EQ(b.offset, a.offset + 12);  // 10 draws rounded up to Philox's 4
  torch::cuda::manual_seed(3);
  const auto c = reserve_philox(10);
  EXPECT_EQ(c.seed, a.seed);
  EXPECT_EQ(c.offset, a.offset);
}

TEST(CudaRuntime, KernelDrawsThroughScratchAreReproducibleAndFresh) {
  SKIP_WITHOUT_GPU();
  const int64_t threads = 1000, draws = 6;
  const auto opts = torch::TensorOptions().dtype(torch::kInt32).device(torch::kCUDA);
  auto fill = [&] {
    auto out = torch::empty({threads, draws}, opts);
    testing::launch_philox_fill(caching_allocator(), reserve_philox(draws), threads, draws,
                                reinterpret_cast<uint32_t*>(out.data_ptr<int32_t>()),
                                c10::cuda::getCurrentCUDAStream());
    return out.cpu();
  };
  torch::cuda::manual_seed(11);
  const auto first = fill();
  const auto second = fill();
  torch::cuda::manual_seed(11);
  const auto again = fill();
  EXPECT_TRUE(torch::equal(first, again));
  EXPECT_FALSE(torch::equal(first, second));
  EXPECT_FALSE(torch::equal(first[0], first[1]));  // threads draw from their own subsequences
}

#else

TEST(CudaRuntime, NeedsACudaLibTorch) { GTEST_SKIP() << "graphmae2 was built without a CUDA LibTorch"; }

#endif

}  // namespace
}  // namespace graphmae2::graph::cuda
