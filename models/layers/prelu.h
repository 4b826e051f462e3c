#pragma once
// PReLU with one learnable slope, in 8 AVX2 lanes on the CPU: the backward is one pass (ATen's CPU prelu backward
// is a scalar loop over the elements followed by a separate reduction for the slope's gradient), and so is the
// forward (ATen's is scalar too: together 3% of a Cora epoch on one thread). Same values as torch::prelu. On other
// devices, and in double backward, the computation is torch's.

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
