#pragma once
// The (seed, offset) of one call of a Philox-based op (graph/ops/philox.h), drawn from the default generator of
// the device it runs on, so torch::manual_seed repeats the call and checkpoints (which hold the generators)
// resume it.

#include <torch/torch.h>

#include <cstdint>
#include <utility>

namespace graphmae2::graph {

/// CPU: one random64() of the CPU generator as the seed, offset 0. CUDA: the CUDA generator's Philox seed and
/// offset (advancing the offset). `op` names the caller in errors.
std::pair<uint64_t, uint64_t> draw_philox_inputs(const char* op, const torch::Tensor& like);

}  // namespace graphmae2::graph
