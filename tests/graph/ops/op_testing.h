#pragma once
// Helpers of the graph/ops tests: running a check on both kernel paths (SIMD on and off, graph/ops/simd.h) and a
// float64 gradient check by central differences.

#include "graph/ops/simd.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace graphmae2::testing {

/// Runs `body(simd)` with the SIMD paths on and then off (off only in a build without them), under a trace that
/// names the path; the switch is restored afterwards.
inline void for_each_simd_path(const std::function<void(bool)>& body) {
  std::vector<bool> settings{false};
  if (graph::simd_built()) settings.insert(settings.begin(), true);
  for (const bool simd : settings) {
    graph::SimdScope scope(simd);
    SCOPED_TRACE(simd ? "SIMD paths on" : "SIMD paths off");
    body(simd);
  }
}

/// Checks the gradients of sum(f(inputs) * w) (w fixed random weights) w.r.t. the inputs flagged in `wrt` against
/// central differences of step `step`, entry by entry: |analytic - numeric| <= atol + rtol |numeric|. Inputs must be
/// float64 and small (each entry costs two evaluations of f).
inline void expect_gradients_match_finite_differences(
    const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& f, const std::vector<torch::Tensor>& inputs,
    const std::vector<bool>& wrt, double step = 1e-6, double atol = 1e-6, double rtol = 1e-5) {
  std::vector<torch::Tensor> leaves;
  for (size_t k = 0; k < inputs.size(); ++k) {
    leaves.push_back(wrt[k] ? inputs[k].detach().clone().requires_grad_(true) : inputs[k]);
  }
  const auto out = f(leaves);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  const auto w = torch::randn(out.sizes(), gen, out.options().requires_grad(false));
  (out * w).sum().backward();
  torch::NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!wrt[k]) continue;
    ASSERT_TRUE(leaves[k].grad().defined()) << "input " << k << " got no gradient";
    auto point = inputs[k].detach().clone().contiguous();
    const auto analytic = leaves[k].grad().contiguous();
    auto flat = point.view({-1});
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double saved = flat[j].item<double>();
      std::vector<torch::Tensor> args = inputs;
      args[k] = point;
      flat[j] = saved + step;
      const double plus = (f(args) * w).sum().item<double>();
      flat[j] = saved - step;
      const double minus = (f(args) * w).sum().item<double>();
      flat[j] = saved;
      const double numeric = (plus - minus) / (2 * step), got = analytic.view({-1})[j].item<double>();
      EXPECT_LE(std::abs(got - numeric), atol + rtol * std::abs(numeric))
          << "input " << k << " entry " << j << ": analytic " << got << ", numeric " << numeric;
    }
  }
}

}  // namespace graphmae2::testing
