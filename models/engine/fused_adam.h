#pragma once
// Adam and AdamW whose step updates every parameter in one pass (ATen's _fused_adam_ / _fused_adamw_, on the CPU
// and on CUDA) instead of torch::optim's eight or so tensor ops per parameter. They are torch::optim::Adam and
// AdamW in all else: the same options, the same per-parameter state (step, exp_avg, exp_avg_sq), so checkpoints
// move freely between them. amsgrad and sparse gradients take the parent's step.

#include <torch/torch.h>

#include <vector>

namespace graphmae2::models::engine {

class FusedAdam : public torch::optim::Adam {
 public:
  explicit FusedAdam(std::vector<torch::Tensor> params, torch::optim::AdamOptions defaults = {})
      : torch::optim::Adam(std::move(params), std::move(defaults)) {}
  torch::Tensor step(LossClosure closure = nullptr) override;
};

class FusedAdamW : public torch::optim::AdamW {
 public:
  explicit FusedAdamW(std::vector<torch::Tensor> params, torch::optim::AdamWOptions defaults = {})
      : torch::optim::AdamW(std::move(params), std::move(defaults)) {}
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace graphmae2::models::engine
