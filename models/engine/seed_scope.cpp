#include "models/engine/seed_scope.h"

#include "models/engine/checkpoint.h"

#include <torch/torch.h>

namespace graphmae2::models::engine {

SeedScope::SeedScope(uint64_t seed, const c10::Device& device) : device_(device) {
  cpu_state_ = cpu_rng_state();
  if (device_.is_cuda()) device_state_ = device_rng_state(device_);
  torch::manual_seed(seed);
}

SeedScope::~SeedScope() {
  set_cpu_rng_state(cpu_state_);
  if (device_state_.defined()) set_device_rng_state(device_, device_state_);
}

}  // namespace graphmae2::models::engine
