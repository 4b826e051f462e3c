#include "graph/ops/dropout.h"

#include "graph/ops/cpu/dropout_kernel.h"
#include "graph/ops/cuda/dropout_bridge.h"
#include "graph/ops/dispatch.h"
#include "graph/ops/philox_inputs.h"

#include <ATen/record_function.h>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor run(const torch::Tensor& in, const torch::Tensor& like, const cpu::DropoutParams& params) {
  return dispatch_by_device(
      "dropout", like, [&] { return cpu::dropout_forward(in, like, params); },
      [&] { return cuda::dropout_forward(in, like, params); });
}

class Dropout : public torch::autograd::Function<Dropout> {
 public:
  // keep_mask: the CPU forward also writes its keep flags (1 bit per element) for backward.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, double rate, int64_t seed, int64_t offset,
                               bool keep_mask) {
    RECORD_FUNCTION("graphmae2::dropout", std::vector<c10::IValue>({x}));
    ctx->saved_data["rate"] = rate;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["offset"] = offset;
    const cpu::DropoutParams params{rate, static_cast<uint64_t>(seed), static_cast<uint64_t>(offset)};
    if (keep_mask && x.is_cpu()) {
      auto [out, mask] = cpu::dropout_forward_keeping_mask(x, params);
      ctx->saved_data["mask"] = mask;
      return out;
    }
    return run(x, x, params);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // d(out)/d(x) is the scale of each element: from the saved flags, or the same mask recomputed.
    const double rate = ctx->saved_data["rate"].toDouble();
    torch::Tensor grad;
    if (ctx->saved_data.count("mask") > 0) {
      grad = cpu::dropout_backward_from_mask(grads[0], ctx->saved_data["mask"].toTensor(), rate);
    } else {
      const cpu::DropoutParams params{rate, static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                                      static_cast<uint64_t>(ctx->saved_data["offset"].toInt())};
      grad = run(grads[0], grads[0], params);
    }
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

void check_supported(const torch::Tensor& like, double p) {
  TORCH_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
  check_float_kernel_input("dropout", "the input", like);
}

}  // namespace

torch::Tensor dropout(const torch::Tensor& x, double p, bool training) {
  TORCH_CHECK(x.defined(), "dropout: the input is undefined");
  check_supported(x, p);
  if (!training || p == 0 || x.numel() == 0) return x;
  const auto [seed, offset] = draw_philox_inputs("dropout", x);
  return dropout_with_seed(x, p, seed, offset);
}

torch::Tensor dropout_with_seed(const torch::Tensor& x, double p, uint64_t seed, uint64_t offset) {
  TORCH_CHECK(x.defined(), "dropout: the input is undefined");
  check_supported(x, p);
  if (p == 0 || x.numel() == 0) return x;
  // Decided here: inside the autograd function grad mode is off.
  const bool backward_follows = torch::GradMode::is_enabled() && x.requires_grad();
  return Dropout::apply(x, p, static_cast<int64_t>(seed), static_cast<int64_t>(offset), backward_follows);
}

torch::Tensor dropout_scales(at::IntArrayRef sizes, double p, const torch::TensorOptions& options) {
  const auto like = torch::empty({0}, options);
  check_supported(like, p);
  if (p == 0) return torch::ones(sizes, options);
  const auto [seed, offset] = draw_philox_inputs("dropout", like);
  // An expanded scalar carries the shape, dtype and device without allocating.
  return run(torch::Tensor(), like.new_empty({1}).expand(sizes), cpu::DropoutParams{p, seed, offset});
}

}  // namespace graphmae2::graph
