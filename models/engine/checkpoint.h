#pragma once
// Training checkpoints of every model: model + optimizer + where the run stands, written atomically,
// loaded onto the training device, refused with a reason when they come from another run or format.

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>

namespace graphmae2::models::engine {

/// The checkpoint layout this build writes and reads. Format 1 (before the engine) stored `epoch` and no
/// `format`; such files are refused with a message saying so.
inline constexpr int64_t kCheckpointFormat = 2;

/// @brief Everything besides the weights that a run needs to continue bit for bit.
struct CheckpointState {
  std::string model;           ///< which model wrote it ("graphmae2", "mocov3"): another model's file is refused
  int64_t step = 0;            ///< optimisation steps completed
  std::string config_yaml;     ///< the resolved config of the run that wrote it
  std::string dataset;         ///< the dataset it trained on
  torch::Tensor cpu_rng;       ///< CPU generator state (uint8)
  torch::Tensor cuda_rng;      ///< the CUDA generator's state when the run trains on CUDA (else undefined)
  int64_t metrics_bytes = -1;  ///< size of the run's metrics log when the checkpoint was written (-1: none)
  std::map<std::string, torch::Tensor> extra;  ///< model- or sampler-specific state, saved and restored as is
};

/// Saves model + optimizer (when given) + state to `path` atomically (util::atomic_write).
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointState& state);

/// Loads into `model` (and `optimizer` when given), their tensors placed on `device` (the model's), after
/// checking the format and that `expected_model` wrote it. Returns the state (its RNG states on the CPU).
/// Throws std::runtime_error naming the file and the reason.
CheckpointState load_checkpoint(const std::filesystem::path& path, const std::string& expected_model,
                                torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                                const torch::Device& device = torch::kCPU);

/// Reads only the state (config, dataset, step; no weights), e.g. to rebuild a model before loading it.
CheckpointState read_checkpoint_state(const std::filesystem::path& path, const std::string& expected_model);

/// The CPU generator's state, and restoring it (what makes resume identical).
torch::Tensor cpu_rng_state();
void set_cpu_rng_state(const torch::Tensor& state);
/// The default generator of a CUDA device (the one randperm and dropout draw from there), and restoring it.
/// The state is copied to the host (a device sync): checkpoints only.
torch::Tensor device_rng_state(const torch::Device& device);
void set_device_rng_state(const torch::Device& device, const torch::Tensor& state);

}  // namespace graphmae2::models::engine
