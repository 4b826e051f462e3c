#include "graph/ops/cpu/sce_rows_kernel.h"

#include "graph/ops/cpu/simd.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace graphmae2::graph::cpu {

namespace {

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
    const T xx = dot(xr, xr, d), yy = dot(yr, yr, d), xy = dot(xr, yr, d);
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
[[gnu::always_inline]] inline void backward_rows_impl(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha,
                                                      T eps, const T* stats, const T* grad_loss, T* grad_x, T* grad_y,
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
  if (use_avx2_fma()) return forward_rows_avx2(x, x_rows, y, d, alpha, eps, loss, stats, begin, end);
#endif
  forward_rows_impl(x, x_rows, y, d, alpha, eps, loss, stats, begin, end);
}

template <typename T>
void backward_rows(const T* x, const int64_t* x_rows, const T* y, int64_t d, T alpha, T eps, const T* stats,
                   const T* grad_loss, T* grad_x, T* grad_y, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) {
    return backward_rows_avx2(x, x_rows, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
  }
#endif
  backward_rows_impl(x, x_rows, y, d, alpha, eps, stats, grad_loss, grad_x, grad_y, begin, end);
}

int64_t row_grain(int64_t d) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, d)); }

}  // namespace

std::pair<torch::Tensor, torch::Tensor> sce_rows_forward(const torch::Tensor& x, const torch::Tensor& x_rows,
                                                         const torch::Tensor& y, double alpha, double eps) {
  const int64_t n = y.size(0), d = y.size(1);
  auto loss = torch::empty({n}, y.options());
  auto stats = torch::empty({n, 3}, y.options());
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "sce_loss_rows", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const int64_t* rp = x_rows.defined() ? x_rows.data_ptr<int64_t>() : nullptr;
    const scalar_t* yp = y.data_ptr<scalar_t>();
    scalar_t* lp = loss.data_ptr<scalar_t>();
    scalar_t* sp = stats.data_ptr<scalar_t>();
    at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
      forward_rows<scalar_t>(xp, rp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), lp, sp, b, e);
    });
  });
  return {loss, stats};
}

std::pair<torch::Tensor, torch::Tensor> sce_rows_backward(const torch::Tensor& x, const torch::Tensor& x_rows,
                                                          const torch::Tensor& y, const torch::Tensor& stats,
                                                          const torch::Tensor& grad_loss, double alpha, double eps,
                                                          bool need_x, bool need_y) {
  const int64_t n = y.size(0), d = y.size(1);
  auto grad_x = need_x ? torch::empty_like(x) : torch::Tensor();
  auto grad_y = need_y ? torch::empty_like(y) : torch::Tensor();
  if (!need_x && !need_y) return {grad_x, grad_y};
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "sce_loss_rows_backward", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const int64_t* rp = x_rows.defined() ? x_rows.data_ptr<int64_t>() : nullptr;
    const scalar_t* yp = y.data_ptr<scalar_t>();
    const scalar_t* sp = stats.data_ptr<scalar_t>();
    const scalar_t* gp = grad_loss.data_ptr<scalar_t>();
    scalar_t* gx = need_x ? grad_x.data_ptr<scalar_t>() : nullptr;
    scalar_t* gy = need_y ? grad_y.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, n, row_grain(d), [&](int64_t b, int64_t e) {
      backward_rows<scalar_t>(xp, rp, yp, d, static_cast<scalar_t>(alpha), static_cast<scalar_t>(eps), sp, gp, gx, gy,
                              b, e);
    });
  });
  return {grad_x, grad_y};
}

}  // namespace graphmae2::graph::cpu
