#pragma once
// A run's own seed without a process-wide side effect: torch's global generators are seeded for the run and
// given back to the caller as they were when it ends.

#include <c10/core/Device.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace graphmae2::models::engine {

/// @brief Seeds torch's global CPU generator and, for a CUDA `device`, that device's generator with `seed`
/// (torch::manual_seed's values) for its lifetime; restores both states on destruction. Draws in between are
/// those of torch::manual_seed(seed). Not for use from several threads at once: the generators are global.
class SeedScope {
 public:
  explicit SeedScope(uint64_t seed, const c10::Device& device = c10::kCPU);
  ~SeedScope();
  SeedScope(const SeedScope&) = delete;
  SeedScope& operator=(const SeedScope&) = delete;

 private:
  c10::Device device_;
  at::Tensor cpu_state_;
  at::Tensor device_state_;
};

}  // namespace graphmae2::models::engine
