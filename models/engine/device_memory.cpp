#include "models/engine/device_memory.h"

namespace graphmae2::models::engine {

#ifndef GRAPHMAE2_WITH_TORCH_CUDA
// Without the CUDA bridge (models/engine/cuda/device_memory_bridge.cpp) there is no device to count.
std::optional<DevicePeakMemory> peak_device_memory(const torch::Device&) { return std::nullopt; }
void reset_peak_device_memory(const torch::Device&) {}
#endif

}  // namespace graphmae2::models::engine
