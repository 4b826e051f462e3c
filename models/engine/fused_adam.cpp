#include "models/engine/fused_adam.h"

namespace graphmae2::models::engine {

namespace {

// t in `like`'s memory layout (a copy only when the strides differ).
torch::Tensor in_layout_of(const torch::Tensor& t, const torch::Tensor& like) {
  return t.strides() == like.strides() ? t : torch::empty_like(like, torch::MemoryFormat::Preserve).copy_(t);
}

// The CPU kernel walks each tensor's memory in order from its data pointer: correct for any dense layout as long
// as the parameter, its gradient and both moments share one, so a parameter stored in another layout (a
// column-major weight, layers::store_transposed) is handed over flat, with a gradient or moments of another layout
// first copied into its own (the moments for good: state loaded before the parameter's layout changed).
torch::Tensor flat(const torch::Tensor& t) { return t.as_strided({t.numel()}, {1}); }

// One group's tensors in the layout _fused_adam(w)_ takes; the state is created as torch::optim's Adam creates it.
template <class State>
void gather(torch::optim::Optimizer& opt, torch::optim::OptimizerParamGroup& group, std::vector<torch::Tensor>& params,
            std::vector<torch::Tensor>& grads, std::vector<torch::Tensor>& exp_avgs,
            std::vector<torch::Tensor>& exp_avg_sqs, std::vector<torch::Tensor>& steps) {
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto& slot = opt.state()[p.unsafeGetTensorImpl()];
    if (!slot) {
      auto state = std::make_unique<State>();
      state->step(0);
      state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
      slot = std::move(state);
    }
    auto& state = static_cast<State&>(*slot);
    state.step(state.step() + 1);
    TORCH_CHECK(p.is_non_overlapping_and_dense(), "FusedAdam: a parameter of shape ", p.sizes(), " and strides ",
                p.strides(), " is not dense");
    state.exp_avg(in_layout_of(state.exp_avg(), p));
    state.exp_avg_sq(in_layout_of(state.exp_avg_sq(), p));
    const auto grad = in_layout_of(p.grad(), p);
    const bool as_is = p.is_contiguous();
    params.push_back(as_is ? p : flat(p));
    grads.push_back(as_is ? grad : flat(grad));
    exp_avgs.push_back(as_is ? state.exp_avg() : flat(state.exp_avg()));
    exp_avg_sqs.push_back(as_is ? state.exp_avg_sq() : flat(state.exp_avg_sq()));
    // The kernels read the step count from a tensor on the parameter's device (a fill, no host sync).
    steps.push_back(torch::full({}, static_cast<double>(state.step()), p.options().dtype(torch::kFloat)));
  }
}

// Parent is named, not deduced: opt.Parent::step must be torch::optim's, not the override.
template <class Options, class State, class Parent, class Fused>
torch::Tensor fused_step(Parent& opt, torch::optim::Optimizer::LossClosure closure, const Fused& fused) {
  for (auto& group : opt.param_groups()) {
    if (static_cast<Options&>(group.options()).amsgrad()) return opt.Parent::step(std::move(closure));
    for (auto& p : group.params()) {
      if (p.grad().defined() && p.grad().is_sparse()) return opt.Parent::step(std::move(closure));
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : opt.param_groups()) {
    const auto& o = static_cast<Options&>(group.options());
    std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    gather<State>(opt, group, params, grads, exp_avgs, exp_avg_sqs, steps);
    if (params.empty()) continue;
    fused(params, grads, exp_avgs, exp_avg_sqs, steps, o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()),
          o.weight_decay(), o.eps());
  }
  return loss;
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  return fused_step<torch::optim::AdamOptions, torch::optim::AdamParamState, torch::optim::Adam>(
      *this, std::move(closure),
      [](auto& p, auto& g, auto& m, auto& v, auto& s, double lr, double b1, double b2, double wd, double eps) {
        at::_fused_adam_(p, g, m, v, {}, s, lr, b1, b2, wd, eps, /*amsgrad=*/false, /*maximize=*/false);
      });
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  return fused_step<torch::optim::AdamWOptions, torch::optim::AdamWParamState, torch::optim::AdamW>(
      *this, std::move(closure),
      [](auto& p, auto& g, auto& m, auto& v, auto& s, double lr, double b1, double b2, double wd, double eps) {
        at::_fused_adamw_(p, g, m, v, {}, s, lr, b1, b2, wd, eps, /*amsgrad=*/false, /*maximize=*/false);
      });
}

}  // namespace graphmae2::models::engine
