#include "models/engine/device_memory.h"

#include <c10/cuda/CUDACachingAllocator.h>

namespace graphmae2::models::engine {

namespace {
// StatType::AGGREGATE (all pools) is entry 0 of each stat array; the enum's namespace moved between torch
// releases, the index did not.
constexpr size_t kAggregate = 0;
}  // namespace

std::optional<DevicePeakMemory> peak_device_memory(const torch::Device& device) {
  if (!device.is_cuda()) return std::nullopt;
  const auto index = device.has_index() ? device.index() : c10::DeviceIndex{0};
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
  return DevicePeakMemory{stats.allocated_bytes[kAggregate].peak, stats.reserved_bytes[kAggregate].peak};
}

void reset_peak_device_memory(const torch::Device& device) {
  if (!device.is_cuda()) return;
  c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : c10::DeviceIndex{0});
}

}  // namespace graphmae2::models::engine
