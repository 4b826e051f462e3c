#include "models/layers/prelu.h"

#include "graph/ops/prelu.h"

namespace graphmae2::models::layers {

PReLUImpl::PReLUImpl(const PReLUOptions& options_) : options(options_) { reset(); }

void PReLUImpl::reset() { weight = register_parameter("weight", torch::full({1}, options.init())); }

torch::Tensor PReLUImpl::forward(const torch::Tensor& x) { return graph::prelu(x, weight); }

}  // namespace graphmae2::models::layers
