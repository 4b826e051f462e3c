#pragma once
// Atomic file writes and training checkpoints.

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <string>

namespace graphmae2::models::train {

/// Writes a file atomically: `write` fills a temporary file in the same directory, which then replaces
/// `path` by rename, so a reader (or an interrupted run) sees the old file or the new one, never half.
void atomic_write(const std::filesystem::path& path, const std::function<void(const std::filesystem::path&)>& write);
/// atomic_write of a text.
void atomic_write_text(const std::filesystem::path& path, const std::string& text);

/// @brief Everything a run needs to continue bit-for-bit: model, optimizer, epoch, RNG and the config.
struct Checkpoint {
  int64_t epoch = 0;            ///< epochs completed
  std::string config_yaml;      ///< the resolved config of the run that wrote it
  torch::Tensor rng_state;      ///< CPU generator state (uint8)
  torch::Tensor cuda_rng_state; ///< the CUDA generator's state when the run trains on CUDA (else undefined)
};

/// Saves model + optimizer + meta to `path` atomically.
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const Checkpoint& meta);
/// Loads into `model` (and `optimizer` when given), their tensors placed on `device` (the model's); returns the
/// meta (its RNG states on the CPU). Throws naming the file on any mismatch.
Checkpoint load_checkpoint(const std::filesystem::path& path, torch::nn::Module& model,
                           torch::optim::Optimizer* optimizer, const torch::Device& device = torch::kCPU);

/// Reads only the resolved config text stored in a checkpoint (to rebuild its model before loading it).
std::string read_checkpoint_config(const std::filesystem::path& path);

/// The CPU generator's state, and restoring it (what makes resume identical).
torch::Tensor cpu_rng_state();
void set_cpu_rng_state(const torch::Tensor& state);
/// The default generator of a CUDA device (the one randperm and dropout draw from there), and restoring it.
torch::Tensor device_rng_state(const torch::Device& device);
void set_device_rng_state(const torch::Device& device, const torch::Tensor& state);

}  // namespace graphmae2::models::train
