#pragma once
// Activation and normalisation layers chosen by name, as the configs name them.

#include <torch/torch.h>

#include <string>

namespace graphmae2::models::layers {

/// Returns a module for "prelu" (one learnable slope, init 0.25), "relu", "elu", "gelu", or an empty
/// AnyModule for "none"/"" (callers skip it). Throws on any other name, listing the valid ones.
torch::nn::AnyModule make_activation(const std::string& name);

/// Returns a module for "layernorm", "batchnorm" over `dim` features, or an empty AnyModule for "none"/"".
torch::nn::AnyModule make_norm(const std::string& name, int64_t dim);

}  // namespace graphmae2::models::layers
