// Torch side of graph/cuda/runtime.h; built only with a CUDA LibTorch (cmake/Cuda.cmake).

#include "graph/cuda/runtime.h"

#include <ATen/core/Generator.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGraphsC10Utils.h>
#include <c10/util/Exception.h>

#include <mutex>

namespace graphmae2::graph::cuda {

namespace {

void* caching_alloc(void* /*context*/, std::size_t bytes, cudaStream_t stream) {
  return c10::cuda::CUDACachingAllocator::raw_alloc_with_stream(bytes, stream);
}

void caching_free(void* /*context*/, void* ptr) { c10::cuda::CUDACachingAllocator::raw_delete(ptr); }

}  // namespace

ScratchAllocator caching_allocator() { return ScratchAllocator{&caching_alloc, &caching_free, nullptr}; }

PhiloxState reserve_philox(uint64_t draws_per_thread) {
  TORCH_CHECK(c10::cuda::currentStreamCaptureStatusMayInitCtx() == c10::cuda::CaptureStatus::None,
              "reserve_philox: called during CUDA graph capture, where the Philox state lives on the device");
  const uint64_t increment = (draws_per_thread + 3) / 4 * 4;
  auto* gen = at::check_generator<at::CUDAGeneratorImpl>(at::cuda::detail::getDefaultCUDAGenerator());
  at::PhiloxCudaState state;
  {
    // See ATen's note [Acquire lock when using random generators].
    std::lock_guard<std::mutex> lock(gen->mutex_);
    state = gen->philox_cuda_state(increment);
  }
  TORCH_CHECK(!state.captured_, "reserve_philox: the generator returned a graph-captured state");
  return PhiloxState{state.seed_.val, state.offset_.val};
}

}  // namespace graphmae2::graph::cuda
