#pragma once
// Activation and normalisation layers, chosen by enums whose names are the configs' values.

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
/// Every value, in declaration order (for config tables and help texts).
inline constexpr Activation kActivations[] = {Activation::none, Activation::prelu, Activation::relu, Activation::elu,
                                              Activation::gelu};
inline constexpr Norm kNorms[] = {Norm::none, Norm::layernorm, Norm::batchnorm};

/// A module for the activation (PReLU: one learnable slope, init 0.25), or an empty AnyModule for none
/// (callers skip it).
torch::nn::AnyModule make_activation(Activation activation);
/// LayerNorm or BatchNorm1d over `dim` features, or an empty AnyModule for none.
torch::nn::AnyModule make_norm(Norm norm, int64_t dim);

}  // namespace graphmae2::models::layers
