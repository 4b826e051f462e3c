#include "graph/ops/head_logits.h"

#include "graph/ops/cpu/head_logits_kernel.h"

#include <ATen/record_function.h>

#include <vector>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The torch chain, differentiable to any order.
std::pair<torch::Tensor, torch::Tensor> chain(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                              const torch::Tensor& attn_r, int64_t num_dst) {
  return {(feat * attn_l).sum(-1), (feat.narrow(0, 0, num_dst) * attn_r).sum(-1)};
}

class HeadLogits : public torch::autograd::Function<HeadLogits> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& feat, const torch::Tensor& attn_l,
                               const torch::Tensor& attn_r, int64_t num_dst) {
    RECORD_FUNCTION("graphmae2::head_logits", std::vector<c10::IValue>({feat, attn_l, attn_r}));
    const auto f = feat.contiguous(), al = attn_l.contiguous(), ar = attn_r.contiguous();
    ctx->save_for_backward({f, al, ar});
    ctx->saved_data["num_dst"] = num_dst;
    auto [el, er] = cpu::head_logits_forward(f, al, ar, num_dst);
    return {el, er};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &feat = saved[0], &attn_l = saved[1], &attn_r = saved[2];
    const int64_t num_dst = ctx->saved_data["num_dst"].toInt();
    const int64_t N = feat.size(0), H = feat.size(1);
    const auto grad_el = grads[0].defined() ? grads[0].contiguous() : torch::zeros({N, H}, feat.options());
    const auto grad_er = grads[1].defined() ? grads[1].contiguous() : torch::zeros({num_dst, H}, feat.options());
    if (torch::GradMode::is_enabled()) {  // double backward: the chain's differentiable formulas
      auto grad_feat = grad_el.unsqueeze(-1) * attn_l +
                       torch::constant_pad_nd(grad_er.unsqueeze(-1) * attn_r, {0, 0, 0, 0, 0, N - num_dst});
      return {grad_feat, (grad_el.unsqueeze(-1) * feat).sum(0, /*keepdim=*/true),
              (grad_er.unsqueeze(-1) * feat.narrow(0, 0, num_dst)).sum(0, /*keepdim=*/true), torch::Tensor()};
    }
    auto [grad_feat, grad_l, grad_r] = cpu::head_logits_backward(feat, attn_l, attn_r, num_dst, grad_el, grad_er);
    return {grad_feat, grad_l, grad_r, torch::Tensor()};
  }
};

}  // namespace

std::pair<torch::Tensor, torch::Tensor> head_logits(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                                    const torch::Tensor& attn_r, int64_t num_dst) {
  TORCH_CHECK(feat.defined() && attn_l.defined() && attn_r.defined(),
              "head_logits: feat, attn_l and attn_r must "
              "be defined, got ",
              feat.defined(), ", ", attn_l.defined(), ", ", attn_r.defined());
  TORCH_CHECK(feat.dim() == 3, "head_logits: feat should be a 3-D [N, H, D] tensor, got ", feat.dim(), "-D with shape ",
              feat.sizes());
  const int64_t H = feat.size(1), D = feat.size(2);
  for (const auto* attn : {&attn_l, &attn_r}) {
    TORCH_CHECK(attn->dim() == 3 && attn->size(0) == 1 && attn->size(1) == H && attn->size(2) == D,
                "head_logits: attention vectors should be [1, ", H, ", ", D, "], got ", attn->sizes());
  }
  TORCH_CHECK(num_dst >= 0 && num_dst <= feat.size(0), "head_logits: num_dst is ", num_dst, ", outside [0, ",
              feat.size(0), "] (feat's rows)");
  const auto dtype = feat.scalar_type();
  const bool kernel = feat.is_cpu() && attn_l.is_cpu() && attn_r.is_cpu() &&
                      (dtype == torch::kFloat || dtype == torch::kDouble) && attn_l.scalar_type() == dtype &&
                      attn_r.scalar_type() == dtype;
  // Other dtypes and devices (CUDA: the model's path there) run the chain of ATen ops.
  if (!kernel) return chain(feat, attn_l, attn_r, num_dst);
  const auto out = HeadLogits::apply(feat, attn_l, attn_r, num_dst);
  return {out[0], out[1]};
}

}  // namespace graphmae2::graph
