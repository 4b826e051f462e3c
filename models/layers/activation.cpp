#include "models/layers/activation.h"

namespace graphmae2::models::layers {

namespace {
constexpr std::pair<Activation, const char*> kActivations[] = {
    {Activation::none, "none"}, {Activation::prelu, "prelu"}, {Activation::relu, "relu"},
    {Activation::elu, "elu"},   {Activation::gelu, "gelu"}};
constexpr std::pair<Norm, const char*> kNorms[] = {
    {Norm::none, "none"}, {Norm::layernorm, "layernorm"}, {Norm::batchnorm, "batchnorm"}};

template <typename E, size_t N>
E from_name(const std::pair<E, const char*> (&table)[N], const std::string& name, const char* what) {
  std::string choices;
  for (const auto& [value, n] : table) {
    if (name == n) return value;
    choices += (choices.empty() ? "" : ", ") + std::string(n);
  }
  throw std::invalid_argument(std::string("unknown ") + what + " '" + name + "' (expected " + choices + ")");
}

template <typename E, size_t N>
const char* to_name(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [v, n] : table) {
    if (v == value) return n;
  }
  return "?";
}
}  // namespace

const char* to_string(Activation activation) { return to_name(kActivations, activation); }
const char* to_string(Norm norm) { return to_name(kNorms, norm); }
Activation activation_from_string(const std::string& name) { return from_name(kActivations, name, "activation"); }
Norm norm_from_string(const std::string& name) { return from_name(kNorms, name, "norm"); }

torch::nn::AnyModule make_activation(Activation activation) {
  switch (activation) {
    case Activation::prelu: return torch::nn::AnyModule(torch::nn::PReLU(torch::nn::PReLUOptions().init(0.25)));
    case Activation::relu: return torch::nn::AnyModule(torch::nn::ReLU());
    case Activation::elu: return torch::nn::AnyModule(torch::nn::ELU());
    case Activation::gelu: return torch::nn::AnyModule(torch::nn::GELU());
    case Activation::none: break;
  }
  return {};
}

torch::nn::AnyModule make_norm(Norm norm, int64_t dim) {
  switch (norm) {
    case Norm::layernorm: return torch::nn::AnyModule(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
    case Norm::batchnorm: return torch::nn::AnyModule(torch::nn::BatchNorm1d(dim));
    case Norm::none: break;
  }
  return {};
}

torch::nn::AnyModule make_activation(const std::string& name) {
  if (name.empty()) return {};
  try {
    return make_activation(activation_from_string(name));
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
}

torch::nn::AnyModule make_norm(const std::string& name, int64_t dim) {
  if (name.empty()) return {};
  try {
    return make_norm(norm_from_string(name), dim);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
}

}  // namespace graphmae2::models::layers
