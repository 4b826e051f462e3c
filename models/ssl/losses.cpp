#include "models/ssl/losses.h"

#include "graph/ops/cpu/simd.h"

#include <ATen/Parallel.h>

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
template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const T* x, const T* y, int64_t d, T alpha, T eps, T* loss,
                                                     T* stats, int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    // Three dot products over the same two rows, which stay in L1 between them.
    const T* xr = x + i * d;
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
// d loss / d cos = -alpha (1 - cos)^(alpha - 1); the same for y with the roles swapped. grad_y may be null.
template <typename T>
[[gnu::always_inline]] inline void backward_rows_impl(const T* x, const T* y, int64_t d, T alpha, T eps,
                                                      const T* stats, const T* grad_loss, T* grad_x, T* grad_y,
                                                      int64_t begin, int64_t end) {
  for (int64_t i = begin; i < end; ++i) {
    const T inv_x = std::abs(stats[3 * i]), inv_y = std::abs(stats[3 * i + 1]), cos = stats[3 * i + 2];
    // The clamp of 1 - cos at 0 passes the gradient (clamp_min's backward at equality); pow's derivative there is 0
    // for alpha > 1 and 1 for alpha = 1.
    const T gap = std::max(T(1) - cos, T(0));
    const T dcos = grad_loss[i] * -alpha * (alpha == T(1) ? T(1) : std::pow(gap, alpha - T(1)));
    const T cross = dcos * inv_x * inv_y;
    const T self_x = stats[3 * i] > T(0) ? dcos * cos * inv_x * inv_x : T(0);
    const T self_y = stats[3 * i + 1] > T(0) ? dcos * cos * inv_y * inv_y : T(0);
    const T* __restrict xr = x + i * d;
    const T* __restrict yr = y + i * d;
    T* __restrict gx = grad_x + i * d;
    for (int64_t f = 0; f < d; ++f) gx[f] = cross * yr[f] - self_x * xr[f];
    if (grad_y != nullptr) {
      T* __restrict gy = grad_y + i * d;
      for (int64_t f = 0; f < d; ++f) gy[f] = cross * xr[f] - self_y * yr[f];
    }
  }
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void forward_rows_avx2(const T* x, const T* y, int64_t d, T alpha, T eps, T* loss,
                                                   T* stats, int64_t begin, int64_t end) {
  forward_rows_impl(x, y, d, alpha, eps, loss, stats, begin, end);
}
template <typename T>
[[gnu::target("avx2,fma")]] void backward_rows_avx2(const T* x, const T* y, int64_t d, T alpha, T eps,
                                                    const T* stats, const T* grad_loss, T* grad_x, T* grad_y,
                                                    int64_t begin, int64_t end) {
  backward_rows_impl(x, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
}
#endif

template <typename T>
void forward_rows(const T* x, const T* y, int64_t d, T alpha, T eps, T* loss, T* stats, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (graph::cpu::has_avx2_fma()) return forward_rows_avx2(x, y, d, alpha, eps, loss, stats, begin, end);
#endif
  forward_rows_impl(x, y, d, alpha, eps, loss, stats, begin, end);
}

template <typename T>
void backward_rows(const T* x, const T* y, int64_t d, T alpha, T eps, const T* stats, const T* grad_loss, T* grad_x,
                   T* grad_y, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (graph::cpu::has_avx2_fma()) {
    return backward_rows_avx2(x, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
  }
#endif
  backward_rows_impl(x, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
}

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, d)); }

// The loss per row in one pass over x and y, its backward in one more: the chain ran about 20 element-wise ops
// over [N, D] (normalise both, multiply, sum, pow and their backward), 4-5% of a Cora epoch.
class CpuSceRows : public torch::autograd::Function<CpuSceRows> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& y, double alpha,
                               double eps) {
    const auto xc = x.contiguous(), yc = y.contiguous();
    const int64_t n = xc.size(0), d = xc.size(1);
    // The inputs themselves are saved (a contiguous copy made here would carry no autograd history for double
    // backward); backward makes them contiguous again, a copy only for strided inputs.
    auto loss = torch::empty({n}, xc.options());
    auto stats = torch::empty({n, 3}, xc.options());
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "sce_loss_rows", [&] {
      const scalar_t* xp = xc.data_ptr<scalar_t>();
      const scalar_t* yp = yc.data_ptr<scalar_t>();
      scalar_t* lp = loss.data_ptr<scalar_t>();
      scalar_t* sp = stats.data_ptr<scalar_t>();
      at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
        forward_rows<scalar_t>(xp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), lp, sp, b, e);
      });
    });
    ctx->save_for_backward({x, y, stats});
    ctx->saved_data["alpha"] = alpha;
    ctx->saved_data["eps"] = eps;
    return loss;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x_in = saved[0], &y_in = saved[1], &stats = saved[2];
    const double alpha = ctx->saved_data["alpha"].toDouble(), eps = ctx->saved_data["eps"].toDouble();
    const bool need_x = ctx->needs_input_grad(0), need_y = ctx->needs_input_grad(1);
    if (torch::GradMode::is_enabled()) {  // double backward: the chain's gradient, itself differentiable
      std::vector<torch::Tensor> inputs;
      if (need_x) inputs.push_back(x_in);
      if (need_y) inputs.push_back(y_in);
      const auto g = torch::autograd::grad({sce_rows_chain(x_in, y_in, alpha, eps)}, inputs, {grads[0]},
                                           /*retain_graph=*/true, /*create_graph=*/true);
      return {need_x ? g[0] : torch::Tensor(), need_y ? g.back() : torch::Tensor(), torch::Tensor(),
              torch::Tensor()};
    }
    const auto grad_loss = grads[0].contiguous();
    const auto x = x_in.contiguous(), y = y_in.contiguous();
    const int64_t n = x.size(0), d = x.size(1);
    // Both gradients come from one pass; x's is formed even when only y's is needed (never the case in training).
    auto grad_x = torch::empty_like(x);
    auto grad_y = need_y ? torch::empty_like(y) : torch::Tensor();
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sce_loss_rows_backward", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      const scalar_t* yp = y.data_ptr<scalar_t>();
      const scalar_t* sp = stats.data_ptr<scalar_t>();
      const scalar_t* gp = grad_loss.data_ptr<scalar_t>();
      scalar_t* gx = grad_x.data_ptr<scalar_t>();
      scalar_t* gy = need_y ? grad_y.data_ptr<scalar_t>() : nullptr;
      at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
        backward_rows<scalar_t>(xp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), sp, gp, gx, gy,
                                b, e);
      });
    });
    return {need_x ? grad_x : torch::Tensor(), grad_y, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sce_loss_rows(const torch::Tensor& x, const torch::Tensor& y, double alpha, double eps) {
  TORCH_CHECK(x.sizes() == y.sizes(), "sce_loss: x has shape ", x.sizes(), " but y has shape ", y.sizes());
  TORCH_CHECK(x.dim() == 2, "sce_loss: expected 2-D inputs [N, D], got ", x.dim(), "-D");
  TORCH_CHECK(alpha >= 1.0, "sce_loss: alpha must be >= 1, got ", alpha);
  TORCH_CHECK(eps > 0.0, "sce_loss: eps must be > 0, got ", eps);
  const auto dtype = x.scalar_type();
  const bool cpu_kernel = x.is_cpu() && y.is_cpu() && y.scalar_type() == dtype &&
                          (dtype == torch::kFloat || dtype == torch::kDouble);
  if (!cpu_kernel) return sce_rows_chain(x, y, alpha, eps);
  return CpuSceRows::apply(x, y, alpha, eps);
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
