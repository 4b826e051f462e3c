#include "models/layers/activation.h"

namespace graphmae2::models::layers {

torch::nn::AnyModule make_activation(const std::string& name) {
  if (name == "prelu") return torch::nn::AnyModule(torch::nn::PReLU(torch::nn::PReLUOptions().init(0.25)));
  if (name == "relu") return torch::nn::AnyModule(torch::nn::ReLU());
  if (name == "elu") return torch::nn::AnyModule(torch::nn::ELU());
  if (name == "gelu") return torch::nn::AnyModule(torch::nn::GELU());
  if (name == "none" || name.empty()) return {};
  TORCH_CHECK(false, "unknown activation '", name, "' (expected prelu, relu, elu, gelu or none)");
}

torch::nn::AnyModule make_norm(const std::string& name, int64_t dim) {
  if (name == "layernorm") return torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  if (name == "batchnorm") return torch::nn::AnyModule(torch::nn::BatchNorm1d(dim));
  if (name == "none" || name.empty()) return {};
  TORCH_CHECK(false, "unknown norm '", name, "' (expected layernorm, batchnorm or none)");
}

}  // namespace graphmae2::models::layers
