#pragma once
// Activation and normalisation layers chosen by name, as the configs name them.

#include <torch/torch.h>

#include <string>

namespace graphmae2::models::layers {

/// The activations a config can name.
enum class Activation { none, prelu, relu, elu, gelu };
/// The normalisations a config can name.
enum class Norm { none, layernorm, batchnorm };

/// The config name of each value ("prelu", "layernorm", ...).
const char* to_string(Activation activation);
const char* to_string(Norm norm);
/// The value a config name stands for; throws std::invalid_argument listing the choices.
Activation activation_from_string(const std::string& name);
Norm norm_from_string(const std::string& name);

/// Returns a module for "prelu" (one learnable slope, init 0.25), "relu", "elu", "gelu", or an empty
/// AnyModule for "none"/"" (callers skip it). Throws on any other name, listing the valid ones.
torch::nn::AnyModule make_activation(const std::string& name);

/// Returns a module for "layernorm", "batchnorm" over `dim` features, or an empty AnyModule for "none"/"".
torch::nn::AnyModule make_norm(const std::string& name, int64_t dim);
/// The same from the enums (an empty AnyModule for none).
torch::nn::AnyModule make_activation(Activation activation);
torch::nn::AnyModule make_norm(Norm norm, int64_t dim);

}  // namespace graphmae2::models::layers
