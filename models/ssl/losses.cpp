#include "models/ssl/losses.h"

#include "graph/ops/cpu/simd.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace graphmae2::models::ssl {

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

// Rows [begin, end) of the forward: loss[i] and stats[i] = {1 / nx, 1 / ny, cos} for backward, nx = max(|x|, eps)
// (F.normalize's denominator). 1 / nx is stored negated where |x| < eps: clamp_min stops the gradient there.
// x_rows (may be null): row i of x is x's row x_rows[i].
template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha,
                                                     T eps, T* loss, T* stats, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    // Three dot products over the same two rows, which stay in L1 between them.
    const T* xr = x + (x_rows != nullptr ? x_rows[i] : i) * d;
    const T* yr = y + i * d;
    const T xx = graph::cpu::dot(xr, xr, d), yy = graph::cpu::dot(yr, yr, d), xy = graph::cpu::dot(xr, yr, d);
    const T norm_x = std::sqrt(xx), norm_y = std::sqrt(yy);
    const T inv_x = T(1) / std::max(norm_x, eps), inv_y = T(1) / std::max(norm_y, eps);
    const T cos = xy * inv_x * inv_y;
    loss[i] = std::pow(std::max(T(1) - cos, T(0)), alpha);
    stats[3 * i] = norm_x >= eps ? inv_x : -inv_x;
    stats[3 * i + 1] = norm_y >= eps ? inv_y : -inv_y;
    stats[3 * i + 2] = cos;
  }
}

// d cos / d x = y / (nx ny) - cos x / nx^2 (the second term only where nx's clamp passes the gradient), times
// d loss / d cos = -alpha (1 - cos)^(alpha - 1); the same for y with the roles swapped. Either gradient may be
// null (not wanted): a target's gradient would be a pass over memory that nobody reads.
template <typename T>
[[gnu::always_inline]] inline void backward_rows_impl(const T* x, const int64_t* x_rows, const T* y, int64_t d,
                                                      T alpha, T eps, const T* stats, const T* grad_loss, T* grad_x,
                                                      T* grad_y, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const T inv_x = std::abs(stats[3 * i]), inv_y = std::abs(stats[3 * i + 1]), cos = stats[3 * i + 2];
    // The clamp of 1 - cos at 0 passes the gradient (clamp_min's backward at equality); pow's derivative there is 0
    // for alpha > 1 and 1 for alpha = 1.
    const T gap = std::max(T(1) - cos, T(0));
    const T dcos = grad_loss[i] * -alpha * (alpha == T(1) ? T(1) : std::pow(gap, alpha - T(1)));
    const T cross = dcos * inv_x * inv_y;
    const T self_x = stats[3 * i] > T(0) ? dcos * cos * inv_x * inv_x : T(0);
    const T self_y = stats[3 * i + 1] > T(0) ? dcos * cos * inv_y * inv_y : T(0);
    const T* __restrict xr = x + (x_rows != nullptr ? x_rows[i] : i) * d;
    const T* __restrict yr = y + i * d;
    if (grad_x != nullptr) {
      T* __restrict gx = grad_x + i * d;
      for (int64_t f = 0; f < d; ++f) gx[f] = cross * yr[f] - self_x * xr[f];
    }
    if (grad_y != nullptr) {
      T* __restrict gy = grad_y + i * d;
      for (int64_t f = 0; f < d; ++f) gy[f] = cross * xr[f] - self_y * yr[f];
    }
  }
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void forward_rows_avx2(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha,
                                                   T eps, T* loss, T* stats, int64_t begin, int64_t end) {
  forward_rows_impl(x, x_rows, y, d, alpha, eps, loss, stats, begin, end);
}
template <typename T>
[[gnu::target("avx2,fma")]] void backward_rows_avx2(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha,
                                                    T eps, const T* stats, const T* grad_loss, T* grad_x, T* grad_y,
                                                    int64_t begin, int64_t end) {
  backward_rows_impl(x, x_rows, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
}
#endif

template <typename T>
void forward_rows(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha, T eps, T* loss, T* stats,
                  int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (graph::cpu::has_avx2_fma()) return forward_rows_avx2(x, x_rows, y, d, alpha, eps, loss, stats, begin, end);
#endif
  forward_rows_impl(x, x_rows, y, d, alpha, eps, loss, stats, begin, end);
}

template <typename T>
void backward_rows(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha, T eps, const T* stats,
                   const T* grad_loss, T* grad_x, T* grad_y, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (graph::cpu::has_avx2_fma()) {
    return backward_rows_avx2(x, x_rows, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
  }
#endif
  backward_rows_impl(x, x_rows, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
}

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, d)); }

// The loss per row in one pass over x and y, its backward in one more: the chain ran about 20 element-wise ops
// over [N, D] (normalise both, multiply, sum, pow and their backward), 4-5% of a Cora epoch. With `gathered`, row i
// of x is x's row x_rows[i], read where it lies; sce_loss_gathered_rows takes this path only for an x that needs
// no gradient. Without ids, x_rows is an empty tensor: autograd functions take no undefined tensors.
class CpuSceRows : public torch::autograd::Function<CpuSceRows> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& x_rows, bool gathered, double alpha, double eps) {
    RECORD_FUNCTION("graphmae2::sce_loss", std::vector<c10::IValue>({x, y, x_rows}));
    const auto xc = x.contiguous(), yc = y.contiguous();
    const auto rows = x_rows.contiguous();
    const int64_t n = yc.size(0), d = yc.size(1);
    // The inputs themselves are saved (a contiguous copy made here would carry no autograd history for double
    // backward); backward makes them contiguous again, a copy only for strided inputs.
    auto loss = torch::empty({n}, yc.options());
    auto stats = torch::empty({n, 3}, yc.options());
    AT_DISPATCH_FLOATING_TYPES(yc.scalar_type(), "sce_loss_rows", [&] {
      const scalar_t* xp = xc.data_ptr<scalar_t>();
      const int64_t* rp = gathered ? rows.data_ptr<int64_t>() : nullptr;
      const scalar_t* yp = yc.data_ptr<scalar_t>();
      scalar_t* lp = loss.data_ptr<scalar_t>();
      scalar_t* sp = stats.data_ptr<scalar_t>();
      at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
        forward_rows<scalar_t>(xp, rp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), lp, sp, b,
                               e);
      });
    });
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
    const variable_list none(6);
    if (torch::GradMode::is_enabled()) {  // double backward: the chain's gradient, itself differentiable
      std::vector<torch::Tensor> inputs;
      if (need_x) inputs.push_back(x_in);
      if (need_y) inputs.push_back(y_in);
      if (inputs.empty()) return none;
      const auto x_rows = gathered ? x_in.index_select(0, rows) : x_in;
      const auto g = torch::autograd::grad({sce_rows_chain(x_rows, y_in, alpha, eps)}, inputs, {grads[0]},
                                           /*retain_graph=*/true, /*create_graph=*/true);
      auto out = none;
      if (need_x) out[0] = g[0];
      if (need_y) out[1] = g.back();
      return out;
    }
    const auto grad_loss = grads[0].contiguous();
    const auto x = x_in.contiguous(), y = y_in.contiguous();
    const int64_t n = y.size(0), d = y.size(1);
    auto grad_x = need_x ? torch::empty_like(x) : torch::Tensor();
    auto grad_y = need_y ? torch::empty_like(y) : torch::Tensor();
    if (!need_x && !need_y) return none;
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "sce_loss_rows_backward", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const int64_t* rp = gathered ? rows.data_ptr<int64_t>() : nullptr;
      const scalar_t* yp = y.data_ptr<scalar_t>();
      const scalar_t* sp = stats.data_ptr<scalar_t>();
      const scalar_t* gp = grad_loss.data_ptr<scalar_t>();
      scalar_t* gx = need_x ? grad_x.data_ptr<scalar_t>() : nullptr;
      scalar_t* gy = need_y ? grad_y.data_ptr<scalar_t>() : nullptr;
      at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
        backward_rows<scalar_t>(xp, rp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), sp, gp, gx,
                                gy, b, e);
      });
    });
    auto out = none;
    out[0] = grad_x;
    out[1] = grad_y;
    return out;
  }
};

void check_sce_arguments(double alpha, double eps) {
  TORCH_CHECK(alpha >= 1.0, "sce_loss: alpha must be >= 1, got ", alpha);
  TORCH_CHECK(eps > 0.0, "sce_loss: eps must be > 0, got ", eps);
}

bool cpu_kernel_takes(const torch::Tensor& x, const torch::Tensor& y) {
  const auto dtype = y.scalar_type();
  return x.is_cpu() && y.is_cpu() && x.scalar_type() == dtype && (dtype == torch::kFloat || dtype == torch::kDouble);
}

}  // namespace

torch::Tensor sce_loss_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  TORCH_CHECK(x.sizes() == y.sizes(), "sce_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  TORCH_CHECK(x.dim() == 2, "sce_loss: expected 2-D inputs [N, D], got ", x.dim(), "-D");
  check_sce_arguments(alpha, eps);
  if (!cpu_kernel_takes(x, y)) return sce_rows_chain(x, y, alpha, eps);
  return CpuSceRows::apply(x, y, torch::empty({0}, y.options().dtype(torch::kLong)), false, alpha, eps);
}

torch::Tensor sce_loss_gathered_rows(const torch::Tensor& x, const torch::Tensor& x_rows, const torch::Tensor& y,
                                     double alpha, double eps) {
  TORCH_CHECK(x.dim() == 2 && y.dim() == 2 && x.size(1) == y.size(1), "sce_loss: x has shape ", x.sizes(),
              " but y has shape ", y.sizes(), ", expected [M, D] and [N, D]");
  TORCH_CHECK(x_rows.dim() == 1 && x_rows.size(0) == y.size(0) &&
                  (x_rows.scalar_type() == torch::kLong || x_rows.scalar_type() == torch::kInt),
              "sce_loss: x_rows is ", x_rows.scalar_type(), " ", x_rows.sizes(), ", expected int64 or int32 [",
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
    TORCH_CHECK(lo >= 0 && hi < x.size(0), "sce_loss: x_rows holds ", lo < 0 ? lo : hi, ", outside x's ", x.size(0),
                " rows");
  }
  return CpuSceRows::apply(x, y, rows, true, alpha, eps);
}

torch::Tensor sce_loss(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  return sce_loss_rows(x, y, alpha, eps).mean();
}

torch::Tensor mse_loss(const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.sizes() == y.sizes(), "mse_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  return (x - y).pow(2).mean();
}

torch::Tensor variance_loss(const torch::Tensor& z, double gamma, double eps) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) >= 2, "variance_loss: expected [N >= 2, D], got ", z.sizes());
  return torch::relu(gamma - torch::sqrt(z.var(0, /*unbiased=*/true) + eps)).mean();
}

torch::Tensor covariance_loss(const torch::Tensor& z) {
  TORCH_CHECK(z.dim() == 2 && z.size(0) >= 2, "covariance_loss: expected [N >= 2, D], got ", z.sizes());
  const auto centred = z - z.mean(0, /*keepdim=*/true);
  const auto cov = torch::mm(centred.t(), centred) / static_cast<double>(z.size(0) - 1);
  return (cov.pow(2).sum() - cov.diagonal().pow(2).sum()) / static_cast<double>(z.size(1));
}

}  // namespace graphmae2::models::ssl
