#include "graph/ops/cpu/gat_attention_kernel.h"

#include "graph/ops/cpu/parallel.h"
#include "graph/ops/cpu/simd.h"
#include "graph/ops/cpu/source_order.h"
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

// Dropout's keep flags of a row's edges for every head, as philox_keep draws them (one Philox block per edge and
// 4 heads), or all kept. The Philox blocks of consecutive edges are independent, so that loop vectorises.
class KeepFlags {
 public:
  KeepFlags(const GatAttentionParams& params, int64_t heads)
      : params_(params),
        heads_(heads),
        blocks_((heads + 3) / 4),
        // u = (bits >> 8) / 2^24 >= rate  <=>  (bits >> 8) >= ceil(rate * 2^24), rate as a float (exact in double)
        threshold_(static_cast<uint32_t>(std::ceil(static_cast<double>(static_cast<float>(params.dropout)) * 16777216.0))) {}

  /// Flags [(i - begin) * H + h] for edges [begin, end). Inlined, so the AVX2 clones of the row loops vectorise it.
  [[gnu::always_inline]] const uint8_t* of_edges(int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    flags_.resize(n * heads_);
    if (params_.dropout <= 0) {
      std::fill(flags_.begin(), flags_.end(), uint8_t{1});
      return flags_.data();
    }
    for (auto& w : words_) w.resize(n);
    for (int64_t b = 0; b < blocks_; ++b) {
      uint32_t *w0 = words_[0].data(), *w1 = words_[1].data(), *w2 = words_[2].data(), *w3 = words_[3].data();
      for (int64_t k = 0; k < n; ++k) {
        const auto bits = philox_edge_bits(params_.seed, params_.offset, begin + k, b, blocks_);
        w0[k] = bits.v[0];
        w1[k] = bits.v[1];
        w2[k] = bits.v[2];
        w3[k] = bits.v[3];
      }
      for (int64_t h = 4 * b; h < std::min<int64_t>(heads_, 4 * b + 4); ++h) {
        const uint32_t* w = words_[h % 4].data();
        for (int64_t k = 0; k < n; ++k) flags_[k * heads_ + h] = (w[k] >> 8) >= threshold_;
      }
    }
    return flags_.data();
  }

 private:
  const GatAttentionParams& params_;
  int64_t heads_, blocks_;
  uint32_t threshold_;
  std::vector<uint8_t> flags_;
  std::vector<uint32_t> words_[4];
};

// Edges ahead whose el entry (a random access) is requested while the current one is used (across rows: most
// rows have fewer edges than this).
constexpr int64_t kPrefetchDistance = 16;

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
  ForwardArgs<T> fwd;  // lse as the forward wrote it (read only here); out is null
  const T* grad_out;
  T* attention;   // [E, H]: a, signed as the logit (pass 1)
  T* grad_logit;  // [E, H]: the keep factor (pass 1), grad_a (pass 2), then the logits' gradient (pass 3)
  T* grad_er;
  T* grad_feat;   // [C, H, D], or null when not needed
  const SourceOrder* order;
};

// Per row: the logits and their softmax first (scalars: el is gathered once, exp runs off the feature loads'
// critical path), then one pass over the neighbours' features accumulating the normalised, dropped-out weights.
// (The CUDA kernel keeps an online softmax instead: there the lanes recompute the scalars for free.)
template <typename T>
[[gnu::always_inline]] inline void forward_rows_impl(const ForwardArgs<T>& a, int64_t rb, int64_t re) {
  const int64_t H = a.H, D = a.D;
  const Logit<T> logit{static_cast<T>(a.params.negative_slope)};
  const T keep_scale = a.params.dropout > 0 ? T(1) / (T(1) - static_cast<T>(a.params.dropout)) : T(1);
  KeepFlags keep(a.params, H);
  std::vector<T> m(H), s(H), weights;
  // Feature rows are prefetched across row boundaries, up to the last edge of this range.
  const int64_t row_pf = row_prefetch_distance(H * D * static_cast<int64_t>(sizeof(T))), edge_limit = a.indptr[re];
  for (int64_t r = rb; r < re; ++r) {
    const int64_t b = a.indptr[r], e = a.indptr[r + 1];
    T* __restrict out = a.out + r * H * D;
    std::fill(out, out + H * D, T(0));
    std::fill(m.begin(), m.end(), -std::numeric_limits<T>::infinity());
    std::fill(s.begin(), s.end(), T(0));
    weights.resize((e - b) * H);
    const T* er_r = a.er + r * H;
    for (int64_t i = b; i < e; ++i) {
      if (i + kPrefetchDistance < edge_limit) __builtin_prefetch(a.el + a.indices[i + kPrefetchDistance] * H);
      const T* el_s = a.el + a.indices[i] * H;
      for (int64_t h = 0; h < H; ++h) {
        const T z = logit(el_s[h] + er_r[h]);
        weights[(i - b) * H + h] = z;
        m[h] = std::max(m[h], z);
      }
    }
    for (int64_t k = 0; k < (e - b) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) weights[k + h] -= m[h];
    }
    exp_all(weights.data(), weights.data(), (e - b) * H);
    for (int64_t k = 0; k < (e - b) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) s[h] += weights[k + h];
    }
    for (int64_t h = 0; h < H; ++h) {
      a.lse[r * H + h] = e > b ? m[h] + std::log(s[h]) : -std::numeric_limits<T>::infinity();
      s[h] = e > b ? keep_scale / s[h] : T(0);  // from here on: the factor of each exponential
    }
    const uint8_t* kept_row = keep.of_edges(b, e);
    for (int64_t i = b; i < e; ++i) {
      if (i + row_pf < edge_limit) prefetch_row(a.feat + a.indices[i + row_pf] * H * D, H * D * sizeof(T));
      const T* __restrict f = a.feat + a.indices[i] * H * D;
      const uint8_t* kept = kept_row + (i - b) * H;
      for (int64_t h = 0; h < H; ++h) {
        if (!kept[h]) continue;
        const T w = weights[(i - b) * H + h] * s[h];
        T* __restrict out_h = out + h * D;
        const T* __restrict f_h = f + h * D;
        for (int64_t j = 0; j < D; ++j) out_h[j] += w * f_h[j];
      }
    }
  }
}

// Backward in three passes, so that each source's feature row and each destination's grad_out row is read once
// per edge in all: the attention gradient <grad_out[r], feat[s]> and the features' gradient
// sum_e a_e k_e grad_out[r] are taken in one pass over the edges in source order.
// Pass 1 (rows): each edge's attention a, signed as its logit (+a where el[s] + er[r] > 0, else -a: the
// LeakyReLU's branch for pass 3), and its dropout keep factor k (0 or 1 / (1 - rate)), parked in grad_logit.
template <typename T>
[[gnu::always_inline]] inline void attention_rows_impl(const BackwardArgs<T>& b, int64_t rb, int64_t re) {
  const ForwardArgs<T>& a = b.fwd;
  const int64_t H = a.H;
  const Logit<T> logit{static_cast<T>(a.params.negative_slope)};
  const T keep_scale = a.params.dropout > 0 ? T(1) / (T(1) - static_cast<T>(a.params.dropout)) : T(1);
  KeepFlags keep(a.params, H);
  const int64_t edge_limit = a.indptr[re];  // el entries are prefetched across row boundaries
  for (int64_t r = rb; r < re; ++r) {
    const int64_t e_begin = a.indptr[r], e_end = a.indptr[r + 1], n = (e_end - e_begin) * H;
    const T* er_r = a.er + r * H;
    const T* lse_r = a.lse + r * H;
    T* att = b.attention + e_begin * H;
    T* factor = b.grad_logit + e_begin * H;
    for (int64_t i = e_begin; i < e_end; ++i) {
      if (i + kPrefetchDistance < edge_limit) __builtin_prefetch(a.el + a.indices[i + kPrefetchDistance] * H);
      const T* el_s = a.el + a.indices[i] * H;
      for (int64_t h = 0; h < H; ++h) {
        const T pre = el_s[h] + er_r[h];
        att[(i - e_begin) * H + h] = logit(pre) - lse_r[h];
        factor[(i - e_begin) * H + h] = pre > 0 ? T(1) : T(-1);  // the sign, until the keep factor replaces it
      }
    }
    exp_all(att, att, n);
    const uint8_t* kept = keep.of_edges(e_begin, e_end);
    for (int64_t k = 0; k < n; ++k) {
      att[k] *= factor[k];
      factor[k] = kept[k] ? keep_scale : T(0);
    }
  }
}

// Pass 2 (sources [cb, ce) in source order): per edge grad_a = k <grad_out[r], feat[s]>, replacing k in
// grad_logit, and grad_feat[s] = sum over s's edges of a k grad_out[r].
template <typename T>
[[gnu::always_inline]] inline void source_pass_impl(const BackwardArgs<T>& b, int64_t cb, int64_t ce) {
  const ForwardArgs<T>& a = b.fwd;
  const int64_t H = a.H, D = a.D;
  const SourceOrder& o = *b.order;
  const int64_t row_bytes = H * D * static_cast<int64_t>(sizeof(T));
  const int64_t row_pf = row_prefetch_distance(row_bytes), slot_limit = o.col_ptr[ce];
  for (int64_t c = cb; c < ce; ++c) {
    const T* f = a.feat + c * H * D;
    T* gf = b.grad_feat != nullptr ? b.grad_feat + c * H * D : nullptr;
    if (gf != nullptr) std::fill(gf, gf + H * D, T(0));
    for (int64_t k = o.col_ptr[c]; k < o.col_ptr[c + 1]; ++k) {
      if (k + row_pf < slot_limit) {
        const auto& ahead = o.slots[k + row_pf];
        prefetch_row(b.grad_out + ahead.row * H * D, row_bytes);
        __builtin_prefetch(b.attention + ahead.edge * H);
        __builtin_prefetch(b.grad_logit + ahead.edge * H, 1);
      }
      const int64_t i = o.slots[k].edge;
      const T* g = b.grad_out + o.slots[k].row * H * D;
      for (int64_t h = 0; h < H; ++h) {
        const T keep_factor = b.grad_logit[i * H + h];
        if (keep_factor == T(0)) continue;  // dropped: grad_a = 0, and nothing reaches the features
        b.grad_logit[i * H + h] = keep_factor * dot(g + h * D, f + h * D, D);
        if (gf != nullptr) {
          const T weight = std::abs(b.attention[i * H + h]) * keep_factor;
          T* __restrict gf_h = gf + h * D;
          const T* __restrict g_h = g + h * D;
          for (int64_t j = 0; j < D; ++j) gf_h[j] += weight * g_h[j];
        }
      }
    }
  }
}

// Pass 3 (rows): the softmax gradient needs sum_e a_e grad_a_e, which is <grad_out_r, out_r> (so the forward's
// output need not be kept); then per edge grad_z = a (grad_a - that), through the LeakyReLU's branch of the sign.
template <typename T>
[[gnu::always_inline]] inline void logit_grad_rows_impl(const BackwardArgs<T>& b, int64_t rb, int64_t re) {
  const int64_t H = b.fwd.H;
  const T slope = static_cast<T>(b.fwd.params.negative_slope);
  std::vector<T> dot_out(H);
  for (int64_t r = rb; r < re; ++r) {
    const int64_t e_begin = b.fwd.indptr[r], e_end = b.fwd.indptr[r + 1];
    const T* att = b.attention + e_begin * H;
    T* grad = b.grad_logit + e_begin * H;
    std::fill(dot_out.begin(), dot_out.end(), T(0));
    for (int64_t k = 0; k < (e_end - e_begin) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) dot_out[h] += std::abs(att[k + h]) * grad[k + h];
    }
    T* grad_er_r = b.grad_er + r * H;
    std::fill(grad_er_r, grad_er_r + H, T(0));
    for (int64_t k = 0; k < (e_end - e_begin) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) {
        const T signed_attention = att[k + h];
        const T grad_z = std::abs(signed_attention) * (grad[k + h] - dot_out[h]);
        const T grad_pre = signed_attention > 0 ? grad_z : grad_z * slope;
        grad[k + h] = grad_pre;
        grad_er_r[h] += grad_pre;
      }
    }
  }
}

// Each pass in an AVX2 + FMA clone, chosen at run time when the processor has it.
#ifdef GRAPHMAE2_X86_DISPATCH
#define GRAPHMAE2_GAT_PASS(name, Args)                                                           \
  template <typename T>                                                                          \
  [[gnu::target("avx2,fma")]] void name##_avx2(const Args<T>& args, int64_t begin, int64_t end) { \
    name##_impl(args, begin, end);                                                               \
  }                                                                                              \
  template <typename T>                                                                          \
  void name(const Args<T>& args, int64_t begin, int64_t end) {                                   \
    if (has_avx2_fma()) return name##_avx2(args, begin, end);                                    \
    name##_impl(args, begin, end);                                                               \
  }
#else
#define GRAPHMAE2_GAT_PASS(name, Args)                                 \
  template <typename T>                                                \
  void name(const Args<T>& args, int64_t begin, int64_t end) {         \
    name##_impl(args, begin, end);                                     \
  }
#endif
GRAPHMAE2_GAT_PASS(forward_rows, ForwardArgs)
GRAPHMAE2_GAT_PASS(attention_rows, BackwardArgs)
GRAPHMAE2_GAT_PASS(source_pass, BackwardArgs)
GRAPHMAE2_GAT_PASS(logit_grad_rows, BackwardArgs)
#undef GRAPHMAE2_GAT_PASS

template <typename T>
ForwardArgs<T> forward_args(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat,
                            const torch::Tensor& el, const torch::Tensor& er, const GatAttentionParams& params,
                            const torch::Tensor& out, const torch::Tensor& lse) {
  return {indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), feat.data_ptr<T>(), el.data_ptr<T>(),
          er.data_ptr<T>(), feat.size(1), feat.size(2), params, out.defined() ? out.data_ptr<T>() : nullptr,
          lse.data_ptr<T>()};
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
    const torch::Tensor& er, const torch::Tensor& lse, const torch::Tensor& grad_out,
    const GatAttentionParams& params, bool needs_feat) {
  const int64_t R = indptr.size(0) - 1, E = indices.size(0), C = feat.size(0), H = feat.size(1), D = feat.size(2);
  auto attention = torch::empty({E, H}, feat.options());
  auto grad_logit = torch::empty({E, H}, feat.options());
  auto grad_er = torch::empty({R, H}, feat.options());
  auto grad_feat = needs_feat ? torch::empty({C, H, D}, feat.options()) : torch::Tensor();
  const SourceOrder order = source_order(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), R, C);
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "gat_attention_backward", [&] {
    const BackwardArgs<scalar_t> args{
        forward_args<scalar_t>(indptr, indices, feat, el, er, params, torch::Tensor(), lse),
        grad_out.data_ptr<scalar_t>(),
        attention.data_ptr<scalar_t>(),
        grad_logit.data_ptr<scalar_t>(),
        grad_er.data_ptr<scalar_t>(),
        needs_feat ? grad_feat.data_ptr<scalar_t>() : nullptr,
        &order};
    parallel_for_rows(args.fwd.indptr, R, H, [&](int64_t rb, int64_t re) { attention_rows(args, rb, re); });
    parallel_for_rows(order.col_ptr.data(), C, H * D, [&](int64_t cb, int64_t ce) { source_pass(args, cb, ce); });
    parallel_for_rows(args.fwd.indptr, R, H, [&](int64_t rb, int64_t re) { logit_grad_rows(args, rb, re); });
  });
  // Sources: d el is the logit gradients summed per source.
  auto grad_el = torch::zeros({C, H}, feat.options()).index_add_(0, indices, grad_logit);
  return {grad_feat, grad_el, grad_er};
}

}  // namespace graphmae2::graph::cpu
