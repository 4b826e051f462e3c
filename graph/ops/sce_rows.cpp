#include "graph/ops/sce_rows.h"

#include "graph/ops/cpu/sce_rows_kernel.h"

#include <ATen/record_function.h>

#include <tuple>
#include <vector>

namespace graphmae2::graph {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

torch::Tensor clamped_norm(const torch::Tensor& t, double eps) {
  return t.norm(2, -1, /*keepdim=*/true).clamp_min(eps);
}

// The torch chain, differentiable to any order. 1 - cos is clamped at 0: rounding can put the cosine of parallel
// rows just above 1, and a fractional alpha would turn that into NaN.
torch::Tensor sce_rows_chain(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  return (1 - ((x / clamped_norm(x, eps)) * (y / clamped_norm(y, eps))).sum(-1)).clamp_min(0).pow(alpha);
}

// With `gathered`, row i of x is x's row x_rows[i], read where it lies; sce_gathered_rows takes this path only for
// an x that needs no gradient. Without ids, x_rows is an empty tensor: autograd functions take no undefined tensors.
class SceRows : public torch::autograd::Function<SceRows> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& x_rows, bool gathered, double alpha, double eps) {
    RECORD_FUNCTION("graphmae2::sce_loss", std::vector<c10::IValue>({x, y, x_rows}));
    const auto rows = x_rows.contiguous();
    auto [loss, stats] =
        cpu::sce_rows_forward(x.contiguous(), gathered ? rows : torch::Tensor(), y.contiguous(), alpha, eps);
    // The inputs themselves are saved (a contiguous copy made here would carry no autograd history for double
    // backward); backward makes them contiguous again, a copy only for strided inputs.
    ctx->save_for_backward({x, y, stats, rows});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["gathered"] = gathered;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x_in = saved[0], &y_in = saved[1], &stats = saved[2], &rows = saved[3];
    const double alpha = ctx->saved_data["alpha"].toDouble(), eps = ctx->saved_data["eps"].toDouble();
    const bool gathered = ctx->saved_data["gathered"].toBool();
    const bool need_x = ctx->needs_input_grad(0), need_y = ctx->needs_input_grad(1);
    variable_list out(6);
    if (!need_x && !need_y) return out;
    if (torch::GradMode::is_enabled()) {  // double backward: the chain's gradient, itself differentiable
      std::vector<torch::Tensor> inputs;
      if (need_x) inputs.push_back(x_in);
      if (need_y) inputs.push_back(y_in);
      const auto x_rows = gathered ? x_in.index_select(0, rows) : x_in;
      const auto g = torch::autograd::grad({sce_rows_chain(x_rows, y_in, alpha, eps)}, inputs, {grads[0]},
                                           /*retain_graph=*/true, /*create_graph=*/true);
      if (need_x) out[0] = g[0];
      if (need_y) out[1] = g.back();
      return out;
    }
    std::tie(out[0], out[1]) =
        cpu::sce_rows_backward(x_in.contiguous(), gathered ? rows : torch::Tensor(), y_in.contiguous(), stats,
                               grads[0].contiguous(), alpha, eps, need_x, need_y);
    return out;
  }
};

void check_sce_arguments(double alpha, double eps) {
  TORCH_CHECK(alpha >= 1.0, "sce_rows: alpha must be >= 1, got ", alpha);
  TORCH_CHECK(eps > 0.0, "sce_rows: eps must be > 0, got ", eps);
}

bool cpu_kernel_takes(const torch::Tensor& x, const torch::Tensor& y) {
  const auto dtype = y.scalar_type();
  return x.is_cpu() && y.is_cpu() && x.scalar_type() == dtype && (dtype == torch::kFloat || dtype == torch::kDouble);
}

}  // namespace

torch::Tensor sce_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  TORCH_CHECK(x.defined() && y.defined(), "sce_rows: x and y must be defined, got ", x.defined(), ", ", y.defined());
  TORCH_CHECK(x.sizes() == y.sizes(), "sce_rows: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  TORCH_CHECK(x.dim() == 2, "sce_rows: expected 2-D inputs [N, D], got ", x.dim(), "-D with shape ", x.sizes());
  check_sce_arguments(alpha, eps);
  // Other dtypes and devices (CUDA: the model's path there) run the chain of ATen ops.
  if (!cpu_kernel_takes(x, y)) return sce_rows_chain(x, y, alpha, eps);
  return SceRows::apply(x, y, torch::empty({0}, y.options().dtype(torch::kLong)), false, alpha, eps);
}

torch::Tensor sce_gathered_rows(const torch::Tensor& x, const torch::Tensor& x_rows, const torch::Tensor& y,
                                double alpha, double eps) {
  TORCH_CHECK(x.defined() && x_rows.defined() && y.defined(),
              "sce_gathered_rows: x, x_rows and y must be defined, "
              "got ",
              x.defined(), ", ", x_rows.defined(), ", ", y.defined());
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.size(1) == y.size(1), "sce_gathered_rows: x has shape ", x.sizes(),
              " but y has shape ", y.sizes(), ", expected [M, D] and [N, D]");
  TORCH_CHECK(x_rows.dim() == 1 && x_rows.size(0) == y.size(0) &&
                  (x_rows.scalar_type() == torch::kLong || x_rows.scalar_type() == torch::kInt),
              "sce_gathered_rows: x_rows is ", x_rows.scalar_type(), " ", x_rows.sizes(), ", expected int64 or int32 [",
              y.size(0), "]");
  check_sce_arguments(alpha, eps);
  if (!cpu_kernel_takes(x, y) || !x_rows.is_cpu() || x.requires_grad()) {
    return sce_rows_chain(x.index_select(0, x_rows), y, alpha, eps);
  }
  const auto rows = x_rows.to(torch::kLong);  // the kernel reads int64 ids; no copy when they already are
  // The kernel reads x's rows by these ids, so they are checked here as index_select would (on the CPU: no sync).
  if (rows.numel() > 0) {
    const auto [low, high] = torch::aminmax(rows);
    const int64_t lo = low.item<int64_t>(), hi = high.item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < x.size(0), "sce_gathered_rows: x_rows holds ", lo < 0 ? lo : hi, ", outside x's ",
                x.size(0), " rows");
  }
  return SceRows::apply(x, y, rows, true, alpha, eps);
}

}  // namespace graphmae2::graph
