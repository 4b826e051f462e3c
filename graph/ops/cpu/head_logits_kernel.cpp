#include "graph/ops/cpu/head_logits_kernel.h"

#include "graph/ops/cpu/simd.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace graphmae2::graph::cpu {

namespace {

template <typename T>
struct LogitArgs {
  const T* feat;    // [N, H, D]
  const T* attn_l;  // [H, D]
  const T* attn_r;  // [H, D]
  int64_t N, H, D, num_dst;
};

template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const LogitArgs<T>& a, T* el, T* er, int64_t begin, int64_t end) {
  for (int64_t n = begin; n < end; ++n) {
    for (int64_t h = 0; h < a.H; ++h) {
      const T* f = a.feat + (n * a.H + h) * a.D;
      el[n * a.H + h] = dot(f, a.attn_l + h * a.D, a.D);
      if (n < a.num_dst) er[n * a.H + h] = dot(f, a.attn_r + h * a.D, a.D);
    }
  }
}

// Rows [begin, end): grad_feat = grad_el a_l + grad_er a_r, and the rows' share of the attention vectors' gradients
// added to partial ([2, H, D]: l, then r).
template <typename T>
[[gnu::always_inline]] inline void backward_rows_impl(const LogitArgs<T>& a, const T* grad_el, const T* grad_er,
                                                      T* grad_feat, T* partial, int64_t begin, int64_t end) {
  const int64_t HD = a.H * a.D;
  for (int64_t n = begin; n < end; ++n) {
    for (int64_t h = 0; h < a.H; ++h) {
      const T* __restrict f = a.feat + n * HD + h * a.D;
      const T* __restrict al = a.attn_l + h * a.D;
      const T* __restrict ar = a.attn_r + h * a.D;
      T* __restrict g = grad_feat + n * HD + h * a.D;
      T* __restrict pl = partial + h * a.D;
      T* __restrict pr = partial + HD + h * a.D;
      const T gl = grad_el[n * a.H + h];
      if (n < a.num_dst) {
        const T gr = grad_er[n * a.H + h];
        for (int64_t d = 0; d < a.D; ++d) {
          g[d] = gl * al[d] + gr * ar[d];
          pl[d] += gl * f[d];
          pr[d] += gr * f[d];
        }
      } else {
        for (int64_t d = 0; d < a.D; ++d) {
          g[d] = gl * al[d];
          pl[d] += gl * f[d];
        }
      }
    }
  }
}

#ifdef GRAPHMAE2_X86_DISPATCH
template <typename T>
[[gnu::target("avx2,fma")]] void forward_rows_avx2(const LogitArgs<T>& a, T* el, T* er, int64_t begin, int64_t end) {
  forward_rows_impl(a, el, er, begin, end);
}
template <typename T>
[[gnu::target("avx2,fma")]] void backward_rows_avx2(const LogitArgs<T>& a, const T* grad_el, const T* grad_er,
                                                    T* grad_feat, T* partial, int64_t begin, int64_t end) {
  backward_rows_impl(a, grad_el, grad_er, grad_feat, partial, begin, end);
}
#endif

template <typename T>
void forward_rows(const LogitArgs<T>& a, T* el, T* er, int64_t begin, int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return forward_rows_avx2(a, el, er, begin, end);
#endif
  forward_rows_impl(a, el, er, begin, end);
}

template <typename T>
void backward_rows(const LogitArgs<T>& a, const T* grad_el, const T* grad_er, T* grad_feat, T* partial, int64_t begin,
                   int64_t end) {
#ifdef GRAPHMAE2_X86_DISPATCH
  if (use_avx2_fma()) return backward_rows_avx2(a, grad_el, grad_er, grad_feat, partial, begin, end);
#endif
  backward_rows_impl(a, grad_el, grad_er, grad_feat, partial, begin, end);
}

template <typename T>
LogitArgs<T> logit_args(const torch::Tensor& feat, const torch::Tensor& attn_l, const torch::Tensor& attn_r,
                        int64_t num_dst) {
  return {feat.data_ptr<T>(),
          attn_l.data_ptr<T>(),
          attn_r.data_ptr<T>(),
          feat.size(0),
          feat.size(1),
          feat.size(2),
          num_dst};
}

// Rows per block of the attention vectors' gradient sums: at least 256, and at most 256 blocks.
int64_t rows_per_block(int64_t n) { return std::max<int64_t>(256, (n + 255) / 256); }

}  // namespace

std::pair<torch::Tensor, torch::Tensor> head_logits_forward(const torch::Tensor& feat, const torch::Tensor& attn_l,
                                                            const torch::Tensor& attn_r, int64_t num_dst) {
  const int64_t N = feat.size(0), H = feat.size(1), D = feat.size(2);
  auto el = torch::empty({N, H}, feat.options());
  auto er = torch::empty({num_dst, H}, feat.options());
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "head_logits", [&] {
    const auto args = logit_args<scalar_t>(feat, attn_l, attn_r, num_dst);
    scalar_t* elp = el.data_ptr<scalar_t>();
    scalar_t* erp = er.data_ptr<scalar_t>();
    at::parallel_for(0, N, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, H * D)),
                     [&](int64_t b, int64_t e) { forward_rows(args, elp, erp, b, e); });
  });
  return {el, er};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> head_logits_backward(
    const torch::Tensor& feat, const torch::Tensor& attn_l, const torch::Tensor& attn_r, int64_t num_dst,
    const torch::Tensor& grad_el, const torch::Tensor& grad_er) {
  const int64_t N = feat.size(0), H = feat.size(1), D = feat.size(2);
  auto grad_feat = torch::empty_like(feat);
  const int64_t block_rows = rows_per_block(N), blocks = (N + block_rows - 1) / block_rows;
  auto partial = torch::zeros({blocks, 2, H, D}, feat.options());
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "head_logits_backward", [&] {
    const auto args = logit_args<scalar_t>(feat, attn_l, attn_r, num_dst);
    const scalar_t* gl = grad_el.data_ptr<scalar_t>();
    const scalar_t* gr = grad_er.data_ptr<scalar_t>();
    scalar_t* gf = grad_feat.data_ptr<scalar_t>();
    scalar_t* part = partial.data_ptr<scalar_t>();
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        backward_rows(args, gl, gr, gf, part + b * 2 * H * D, b * block_rows, std::min(N, (b + 1) * block_rows));
      }
    });
  });
  // The blocks' partial sums in block order: the same bits on any number of threads.
  const auto sums = partial.sum(0);
  return {grad_feat, sums[0].unsqueeze(0), sums[1].unsqueeze(0)};
}

}  // namespace graphmae2::graph::cpu
