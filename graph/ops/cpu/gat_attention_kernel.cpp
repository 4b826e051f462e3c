#include "graph/ops/cpu/gat_attention_kernel.h"

#include "graph/ops/cpu/parallel.h"
#include "graph/ops/cpu/simd.h"
#include "graph/ops/cpu/spmm_kernel.h"
#include "graph/ops/philox.h"

#include <cmath>
#include <limits>
#include <vector>

namespace graphmae2::graph::cpu {

namespace {

template <typename T>
struct Logit {
  T slope;
  T operator()(T pre) const { return pre > 0 ? pre : pre * slope; }
};

// Dropout's keep flags of one edge for every head (one Philox call per 4 heads), or all kept.
class KeepFlags {
 public:
  KeepFlags(const GatAttentionParams& params, int64_t heads)
      : params_(params), heads_(heads), flags_(heads, 1) {}
  const uint8_t* of(int64_t edge) {
    if (params_.dropout > 0) {
      const auto rate = static_cast<float>(params_.dropout);
      for (int64_t h = 0; h < heads_; ++h) flags_[h] = philox_keep(params_.seed, params_.offset, edge, h, heads_, rate);
    }
    return flags_.data();
  }

 private:
  const GatAttentionParams& params_;
  int64_t heads_;
  std::vector<uint8_t> flags_;
};

// Raw views of one call's tensors.
template <typename T>
struct ForwardArgs {
  const int64_t* indptr;
  const int64_t* indices;
  const T* feat;
  const T* el;
  const T* er;
  int64_t H, D;
  GatAttentionParams params;
  T* out;
  T* lse;
};

template <typename T>
struct BackwardArgs {
  ForwardArgs<T> fwd;  // out and lse as the forward wrote them (read only here)
  const T* grad_out;
  T* attention;
  T* grad_logit;
  T* grad_er;
};

// One pass over each row's edges with an online softmax per head: the running maximum m, the sum s of
// exp(logit - m) and the weighted feature sum are rescaled when m grows.
template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const ForwardArgs<T>& a, int64_t rb, int64_t re) {
  const int64_t H = a.H, D = a.D;
  const Logit<T> logit{static_cast<T>(a.params.negative_slope)};
  const T keep_scale = a.params.dropout > 0 ? T(1) / (T(1) - static_cast<T>(a.params.dropout)) : T(1);
  KeepFlags keep(a.params, H);
  std::vector<T> m(H), s(H);
  for (int64_t r = rb; r < re; ++r) {
    T* acc = a.out + r * H * D;
    std::fill(acc, acc + H * D, T(0));
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    std::fill(s.begin(), s.end(), T(0));
    const T* er_r = a.er + r * H;
    for (int64_t i = a.indptr[r]; i < a.indptr[r + 1]; ++i) {
      const int64_t src = a.indices[i];
      const T* f = a.feat + src * H * D;
      const T* el_s = a.el + src * H;
      const uint8_t* kept = keep.of(i);
      for (int64_t h = 0; h < H; ++h) {
        const T z = logit(el_s[h] + er_r[h]);
        T* __restrict acc_h = acc + h * D;
        if (z > m[h]) {
          const T scale = std::exp(m[h] - z);
          if (s[h] > 0) {
            s[h] *= scale;
            for (int64_t j = 0; j < D; ++j) acc_h[j] *= scale;
          }
          m[h] = z;
        }
        const T w = std::exp(z - m[h]);
        s[h] += w;
        if (kept[h]) {
          const T wk = w * keep_scale;
          const T* __restrict f_h = f + h * D;
          for (int64_t j = 0; j < D; ++j) acc_h[j] += wk * f_h[j];
        }
      }
    }
    for (int64_t h = 0; h < H; ++h) {
      if (s[h] > 0) {
        const T inv = T(1) / s[h];
        for (int64_t j = 0; j < D; ++j) acc[h * D + j] *= inv;
        a.lse[r * H + h] = m[h] + std::log(s[h]);
      } else {
        a.lse[r * H + h] = -std::numeric_limits<T>::infinity();
      }
    }
  }
}

// Per row: the softmax gradient needs sum_e a_e dA_e = <grad_out_r, out_r> (out is that same weighted sum), so
// one pass over the edges gives each edge's dropped-out attention and logit gradient.
template <typename T>
[[gnu::always_inline]] inline void backward_rows_impl(const BackwardArgs<T>& b, int64_t rb, int64_t re) {
  const ForwardArgs<T>& a = b.fwd;
  const int64_t H = a.H, D = a.D;
  const T slope = static_cast<T>(a.params.negative_slope);
  const Logit<T> logit{slope};
  const T keep_scale = a.params.dropout > 0 ? T(1) / (T(1) - static_cast<T>(a.params.dropout)) : T(1);
  KeepFlags keep(a.params, H);
  std::vector<T> dot_out(H);
  for (int64_t r = rb; r < re; ++r) {
    const T* g = b.grad_out + r * H * D;
    for (int64_t h = 0; h < H; ++h) {
      dot_out[h] = dot(g + h * D, a.out + (r * H + h) * D, D);
      b.grad_er[r * H + h] = 0;
    }
    const T* er_r = a.er + r * H;
    for (int64_t i = a.indptr[r]; i < a.indptr[r + 1]; ++i) {
      const int64_t src = a.indices[i];
      const T* f = a.feat + src * H * D;
      const uint8_t* kept = keep.of(i);
      for (int64_t h = 0; h < H; ++h) {
        const T pre = a.el[src * H + h] + er_r[h];
        const T attention = std::exp(logit(pre) - a.lse[r * H + h]);
        const T k = kept[h] ? keep_scale : T(0);
        const T grad_attention = k != 0 ? k * dot(g + h * D, f + h * D, D) : T(0);
        const T grad_z = attention * (grad_attention - dot_out[h]);
        const T grad_pre = pre > 0 ? grad_z : grad_z * slope;
        b.attention[i * H + h] = attention * k;
        b.grad_logit[i * H + h] = grad_pre;
        b.grad_er[r * H + h] += grad_pre;
      }
    }
  }
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void forward_rows_avx2(const ForwardArgs<T>& a, int64_t rb, int64_t re) {
  forward_rows_impl(a, rb, re);
}
template <typename T>
[[gnu::target("avx2,fma")]] void backward_rows_avx2(const BackwardArgs<T>& b, int64_t rb, int64_t re) {
  backward_rows_impl(b, rb, re);
}
#endif

template <typename T>
void forward_rows(const ForwardArgs<T>& a, int64_t rb, int64_t re) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (has_avx2_fma()) return forward_rows_avx2(a, rb, re);
#endif
  forward_rows_impl(a, rb, re);
}

template <typename T>
void backward_rows(const BackwardArgs<T>& b, int64_t rb, int64_t re) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (has_avx2_fma()) return backward_rows_avx2(b, rb, re);
#endif
  backward_rows_impl(b, rb, re);
}

template <typename T>
ForwardArgs<T> forward_args(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat,
                            const torch::Tensor& el, const torch::Tensor& er, const GatAttentionParams& params,
                            const torch::Tensor& out, const torch::Tensor& lse) {
  return {indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), feat.data_ptr<T>(), el.data_ptr<T>(),
          er.data_ptr<T>(), feat.size(1), feat.size(2), params, out.data_ptr<T>(), lse.data_ptr<T>()};
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> gat_attention_forward(const torch::Tensor& indptr,
                                                              const torch::Tensor& indices,
                                                              const torch::Tensor& feat, const torch::Tensor& el,
                                                              const torch::Tensor& er,
                                                              const GatAttentionParams& params) {
  const int64_t R = indptr.size(0) - 1, H = feat.size(1), D = feat.size(2);
  auto out = torch::empty({R, H, D}, feat.options());
  auto lse = torch::empty({R, H}, feat.options());
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "gat_attention_forward", [&] {
    const auto args = forward_args<scalar_t>(indptr, indices, feat, el, er, params, out, lse);
    parallel_for_rows(args.indptr, R, H * D, [&](int64_t rb, int64_t re) { forward_rows(args, rb, re); });
  });
  return {out, lse};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& out, const torch::Tensor& lse, const torch::Tensor& grad_out,
    const GatAttentionParams& params, bool needs_feat) {
  const int64_t R = indptr.size(0) - 1, E = indices.size(0), C = feat.size(0), H = feat.size(1), D = feat.size(2);
  auto attention = torch::empty({E, H}, feat.options());
  auto grad_logit = torch::empty({E, H}, feat.options());
  auto grad_er = torch::empty({R, H}, feat.options());
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "gat_attention_backward", [&] {
    const BackwardArgs<scalar_t> args{forward_args<scalar_t>(indptr, indices, feat, el, er, params, out, lse),
                                      grad_out.data_ptr<scalar_t>(), attention.data_ptr<scalar_t>(),
                                      grad_logit.data_ptr<scalar_t>(), grad_er.data_ptr<scalar_t>()};
    parallel_for_rows(args.fwd.indptr, R, H * D, [&](int64_t rb, int64_t re) { backward_rows(args, rb, re); });
  });
  // Sources: d feat is the aggregation on the transposed graph, d el the logit gradients summed per source.
  auto grad_feat = needs_feat ? spmm_backward_x(indptr, indices, attention, grad_out, C) : torch::Tensor();
  auto grad_el = spmm_backward_x(indptr, indices, grad_logit, torch::ones({R, H, 1}, feat.options()), C).squeeze(2);
  return {grad_feat, grad_el, grad_er};
}

}  // namespace graphmae2::graph::cpu
