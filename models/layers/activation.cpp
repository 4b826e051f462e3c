#include "models/layers/activation.h"

#include "models/layers/prelu.h"

namespace graphmae2::models::layers {

const char* to_string(Activation activation) {
  switch (activation) {
    case Activation::none:
      return "none";
    case Activation::prelu:
      return "prelu";
    case Activation::relu:
      return "relu";
    case Activation::elu:
      return "elu";
    case Activation::gelu:
      return "gelu";
  }
  return "?";
}

const char* to_string(Norm norm) {
  switch (norm) {
    case Norm::none:
      return "none";
    case Norm::layernorm:
      return "layernorm";
    case Norm::batchnorm:
      return "batchnorm";
  }
  return "?";
}

torch::nn::AnyModule make_activation(Activation activation) {
  switch (activation) {
    case Activation::prelu:
      return torch::nn::AnyModule(PReLU(PReLUOptions().init(0.25)));
    case Activation::relu:
      return torch::nn::AnyModule(torch::nn::ReLU());
    case Activation::elu:
      return torch::nn::AnyModule(torch::nn::ELU());
    case Activation::gelu:
      return torch::nn::AnyModule(torch::nn::GELU());
    case Activation::none:
      break;
  }
  return {};
}

torch::nn::AnyModule make_norm(Norm norm, int64_t dim) {
  switch (norm) {
    case Norm::layernorm:
      return torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    case Norm::batchnorm:
      return torch::nn::AnyModule(torch::nn::BatchNorm1d(dim));
    case Norm::none:
      break;
  }
  return {};
}

}  // namespace graphmae2::models::layers
