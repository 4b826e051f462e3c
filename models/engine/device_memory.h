#pragma once
// Peak memory of a CUDA device as torch's caching allocator counts it (what torch.cuda.max_memory_allocated
// and max_memory_reserved report), for run summaries and benchmarks.

#include <torch/torch.h>

#include <cstdint>
#include <optional>

namespace graphmae2::models::engine {

struct DevicePeakMemory {
  int64_t allocated_bytes = 0;  ///< tensors alive at the peak
  int64_t reserved_bytes = 0;   ///< held by the caching allocator at its peak (what nvidia-smi sees, less the context)
};

/// Peak since the last reset_peak_device_memory(device). nullopt for a CPU device or a build without the torch
/// CUDA bridge. Reads host-side counters: no device synchronisation.
std::optional<DevicePeakMemory> peak_device_memory(const torch::Device& device);
void reset_peak_device_memory(const torch::Device& device);

}  // namespace graphmae2::models::engine
