#pragma once
// PReLU with one learnable slope, as a module: the computation is graph::prelu (graph/ops/prelu.h: a CPU kernel,
// torch's prelu elsewhere), the same values as torch::nn::PReLU.

#include <torch/torch.h>

namespace graphmae2::models::layers {

struct PReLUOptions {
  /// The slope's initial value (torch::nn::PReLU's default).
  TORCH_ARG(double, init) = 0.25;
};

class PReLUImpl : public torch::nn::Cloneable<PReLUImpl> {
 public:
  explicit PReLUImpl(const PReLUOptions& options = {});
  void reset() override;
  /// x > 0 ? x : weight * x, elementwise.
  torch::Tensor forward(const torch::Tensor& x);

  PReLUOptions options;
  /// [1], under torch::nn::PReLU's name, so state dicts of either load into the other.
  torch::Tensor weight;
};
TORCH_MODULE(PReLU);

}  // namespace graphmae2::models::layers
