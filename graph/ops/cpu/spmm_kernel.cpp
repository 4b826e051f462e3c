#include "graph/ops/cpu/spmm_kernel.h"

#include "graph/cpu/parallel.h"
#include "graph/ops/cpu/simd.h"
#include "graph/ops/cpu/source_order.h"

#include <algorithm>
#include <vector>

namespace graphmae2::graph::cpu {

namespace {

struct SpmmArgs {
  const int64_t* indptr;
  const int64_t* indices;
  int64_t H;
  int64_t F;
};

// out[r] = sum_e w[e, h] * x[indices[e], h, :] for rows [rb, re).
template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const SpmmArgs& a, const T* __restrict w, const T* __restrict x,
                                                     int64_t rb, int64_t re, T* __restrict out) {
  const int64_t H = a.H, F = a.F, HF = H * F;
  const int64_t row_pf = row_prefetch_distance(HF * static_cast<int64_t>(sizeof(T))), edge_limit = a.indptr[re];
  for (int64_t r = rb; r < re; ++r) {
    T* __restrict o = out + r * HF;
    for (int64_t j = 0; j < HF; ++j) o[j] = T(0);
    for (int64_t e = a.indptr[r]; e < a.indptr[r + 1]; ++e) {
      if (e + row_pf < edge_limit) prefetch_row(x + a.indices[e + row_pf] * HF, HF * sizeof(T));
      const T* __restrict xc = x + a.indices[e] * HF;
      const T* we = w + e * H;
      for (int64_t h = 0; h < H; ++h) {
        const T s = we[h];
        T* __restrict oh = o + h * F;
        const T* __restrict xh = xc + h * F;
        for (int64_t f = 0; f < F; ++f) oh[f] += s * xh[f];
      }
    }
  }
}

template <typename T>
[[gnu::always_inline]] inline void weights_grad_rows_impl(const SpmmArgs& a, const T* __restrict x,
                                                          const T* __restrict grad_out, int64_t rb, int64_t re,
                                                          T* __restrict grad_w) {
  const int64_t H = a.H, F = a.F, HF = H * F;
  for (int64_t r = rb; r < re; ++r) {
    const T* g = grad_out + r * HF;
    for (int64_t e = a.indptr[r]; e < a.indptr[r + 1]; ++e) {
      const T* xc = x + a.indices[e] * HF;
      for (int64_t h = 0; h < H; ++h) grad_w[e * H + h] = dot(g + h * F, xc + h * F, F);
    }
  }
}

template <typename T>
void forward_rows_base(const SpmmArgs& a, const T* w, const T* x, int64_t rb, int64_t re, T* out) {
  forward_rows_impl(a, w, x, rb, re, out);
}
template <typename T>
void weights_grad_rows_base(const SpmmArgs& a, const T* x, const T* g, int64_t rb, int64_t re, T* gw) {
  weights_grad_rows_impl(a, x, g, rb, re, gw);
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void forward_rows_avx2(const SpmmArgs& a, const T* w, const T* x, int64_t rb, int64_t re,
                                                   T* out) {
  forward_rows_impl(a, w, x, rb, re, out);
}
template <typename T>
[[gnu::target("avx2,fma")]] void weights_grad_rows_avx2(const SpmmArgs& a, const T* x, const T* g, int64_t rb,
                                                        int64_t re, T* gw) {
  weights_grad_rows_impl(a, x, g, rb, re, gw);
}
#endif

template <typename T>
void forward_rows(const SpmmArgs& a, const T* w, const T* x, int64_t rb, int64_t re, T* out) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return forward_rows_avx2(a, w, x, rb, re, out);
#endif
  forward_rows_base(a, w, x, rb, re, out);
}

template <typename T>
void weights_grad_rows(const SpmmArgs& a, const T* x, const T* g, int64_t rb, int64_t re, T* gw) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return weights_grad_rows_avx2(a, x, g, rb, re, gw);
#endif
  weights_grad_rows_base(a, x, g, rb, re, gw);
}

}  // namespace

torch::Tensor spmm_forward(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                           const torch::Tensor& x) {
  const int64_t num_rows = indptr.size(0) - 1;
  const SpmmArgs a{indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.size(1), x.size(2)};
  auto out = torch::empty({num_rows, a.H, a.F}, x.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_forward_cpu", [&] {
    const scalar_t* w = weights.data_ptr<scalar_t>();
    const scalar_t* xp = x.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_for_rows(a.indptr, num_rows, a.H * a.F,
                      [&](int64_t rb, int64_t re) { forward_rows(a, w, xp, rb, re, o); });
  });
  return out;
}

torch::Tensor spmm_backward_weights(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& x,
                                    const torch::Tensor& grad_out) {
  const int64_t num_rows = indptr.size(0) - 1;
  const SpmmArgs a{indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.size(1), x.size(2)};
  auto grad_w = torch::empty({indices.size(0), a.H}, x.options());
  if (grad_w.numel() == 0) return grad_w;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spmm_backward_weights_cpu", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    scalar_t* gw = grad_w.data_ptr<scalar_t>();
    parallel_for_rows(a.indptr, num_rows, a.H * a.F,
                      [&](int64_t rb, int64_t re) { weights_grad_rows(a, xp, g, rb, re, gw); });
  });
  return grad_w;
}

torch::Tensor spmm_backward_x(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                              const torch::Tensor& grad_out, int64_t num_cols) {
  const int64_t num_rows = indptr.size(0) - 1;
  const int64_t E = indices.size(0), H = weights.size(1);
  // Reverse CSR: column c's entries are the edges (r -> c) in CSR order (stable), with their weights.
  const SourceOrder order = source_order(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), num_rows, num_cols);
  const auto t_indptr =
      torch::from_blob(const_cast<int64_t*>(order.col_ptr.data()), {num_cols + 1}, indptr.options()).clone();
  auto t_indices = torch::empty({E}, indices.options());
  auto t_weights = torch::empty({E, H}, weights.options());
  int64_t* tx = t_indices.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(weights.scalar_type(), "spmm_transpose_cpu", [&] {
    const scalar_t* w = weights.data_ptr<scalar_t>();
    scalar_t* tw = t_weights.data_ptr<scalar_t>();
    for (int64_t k = 0; k < E; ++k) {
      const auto& slot = order.slots[k];
      tx[k] = slot.row;
      std::copy(w + slot.edge * H, w + (slot.edge + 1) * H, tw + k * H);
    }
  });
  return spmm_forward(t_indptr, t_indices, t_weights, grad_out);
}

}  // namespace graphmae2::graph::cpu
