#pragma once
// What CUDA kernels get from torch without including it: scratch memory from torch's CUDA caching allocator
// and the default CUDA generator's Philox seed and offset. Torch-free, so .cu files compiled by nvcc against a
// CPU-only LibTorch can use it. Kernel launchers take a ScratchAllocator and a PhiloxState as arguments; the
// torch bridges (graph/**/cuda/*.cpp) get them from caching_allocator() and reserve_philox(), defined in
// graph/cuda/runtime.cpp, which is built only with a CUDA LibTorch (GRAPHMAE2_WITH_TORCH_CUDA).
// Exercised only on a GPU machine (tests/graph/test_cuda_runtime.cpp skips elsewhere).

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace graphmae2::graph::cuda {

/// @brief A stream-ordered allocator, passed to kernel launchers by value (no cudaMalloc inside ops).
///
/// alloc(context, bytes, stream) returns device memory for work on `stream` or throws; free(context, ptr) gives
/// it back. caching_allocator() fills it with torch's caching allocator.
struct ScratchAllocator {
  void* (*alloc)(void* context, std::size_t bytes, cudaStream_t stream) = nullptr;
  void (*free)(void* context, void* ptr) = nullptr;
  void* context = nullptr;
};

/// @brief RAII scratch memory from a ScratchAllocator, for work queued on one stream.
///
/// Destroying it right after the launches that use it is safe with torch's caching allocator: a freed block
/// is reused only by work queued later on the same stream (no synchronisation). Work on another stream would
/// need torch's recordStream, which this class does not offer. Zero bytes allocate nothing (data() is null).
class ScratchBuffer {
 public:
  ScratchBuffer(const ScratchAllocator& allocator, std::size_t bytes, cudaStream_t stream)
      : allocator_(allocator), bytes_(bytes) {
    if (bytes_ > 0) data_ = allocator_.alloc(allocator_.context, bytes_, stream);
  }
  ~ScratchBuffer() { release(); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ScratchBuffer(ScratchBuffer&& other) noexcept
      : allocator_(other.allocator_),
        data_(std::exchange(other.data_, nullptr)),
        bytes_(std::exchange(other.bytes_, 0)) {}
  ScratchBuffer& operator=(ScratchBuffer&& other) noexcept {
    if (this != &other) {
      release();
      allocator_ = other.allocator_;
      data_ = std::exchange(other.data_, nullptr);
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }

  void* data() const { return data_; }
  /// The memory as an array of T (the allocator's alignment, 512 bytes for torch's, suits any T).
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  std::size_t size() const { return bytes_; }

 private:
  void release() noexcept {
    if (data_ != nullptr) allocator_.free(allocator_.context, data_);
    data_ = nullptr;
  }

  ScratchAllocator allocator_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

/// @brief The Philox inputs of one kernel launch: thread t calls curand_init(seed, t, offset, &state) (or the
/// equivalent Philox4x32-10 counter) and draws at most the number of values reserved for it.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

#ifdef GRAPHMAE2_WITH_TORCH_CUDA
// Torch side (graph/cuda/runtime.cpp): host functions for the bridges, hidden from the kernels' .cu files, which
// are compiled without GRAPHMAE2_WITH_TORCH_CUDA and must receive these values as arguments.

/// Returns: torch's CUDA caching allocator (c10::cuda::CUDACachingAllocator raw_alloc_with_stream / raw_delete);
/// alloc throws c10::Error when out of memory.
ScratchAllocator caching_allocator();

/// Reserves `draws_per_thread` 32-bit random values per thread from the current device's default CUDA generator
/// (the one torch.cuda.manual_seed seeds). Returns: its seed and offset before the reservation; the generator's
/// offset advances by draws_per_thread rounded up to a multiple of 4 (one Philox call gives 4 values), so the
/// next kernel or torch op draws fresh numbers. Throws during CUDA graph capture (the captured state lives on
/// the device). No device work and no synchronisation.
PhiloxState reserve_philox(uint64_t draws_per_thread);
#endif

}  // namespace graphmae2::graph::cuda
