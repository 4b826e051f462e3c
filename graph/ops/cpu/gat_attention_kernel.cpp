#include "graph/ops/cpu/gat_attention_kernel.h"

#include "graph/cpu/parallel.h"
#include "graph/ops/cpu/philox_words.h"
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
// 4 heads), or all kept; the blocks of a row's edges are drawn 8 at a time (philox_words).
class KeepFlags {
 public:
  KeepFlags(const GatAttentionParams& params, int64_t heads)
      : params_(params),
        heads_(heads),
        blocks_((heads + 3) / 4),
        threshold_(philox_dropout_threshold(params.dropout)) {}

  /// Flags [(i - begin) * H + h] for edges [begin, end). Inlined, so the AVX2 clones of the row loops vectorise it.
  [[gnu::always_inline]] const uint8_t* of_edges(int64_t begin, int64_t end) {
    const int64_t n = end - begin;
    flags_.resize(n * heads_);
    if (params_.dropout <= 0) {
      std::fill(flags_.begin(), flags_.end(), uint8_t{1});
      return flags_.data();
    }
    for (auto& w : words_) w.resize(n);
    uint32_t* const words[4] = {words_[0].data(), words_[1].data(), words_[2].data(), words_[3].data()};
    for (int64_t b = 0; b < blocks_; ++b) {
      // philox_edge_bits(seed, offset, edge, b, blocks) for the row's edges: counters edge * blocks + b.
      philox_words(static_cast<uint64_t>(begin * blocks_ + b), static_cast<uint64_t>(blocks_), n, params_.seed,
                   params_.offset, words);
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
  const T* bias;  // [H, D] added to every output row, or null
  int64_t H, D;
  GatAttentionParams params;
  T* out;
  T* lse;
  T* attention;   // [E, H] when backward will follow: each edge's attention, signed as its logit; else null
  uint8_t* kept;  // [E, H] when attention is saved and dropout is on: the keep flags; else null
};

template <typename T>
struct BackwardArgs {
  ForwardArgs<T> fwd;  // the forward's inputs (read only here); out, lse, attention and kept are null
  const T* grad_out;
  const T* attention;   // [E, H]: a, signed as the logit, as the forward saved it
  const uint8_t* kept;  // [E, H] keep flags as the forward saved them, or null (no dropout)
  T* grad_logit;        // [E, H]: grad_a (pass 1), then the logits' gradient (pass 2)
  T* grad_er;
  T* grad_feat;  // [C, H, D], or null when not needed
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
    // The logits' signs (z > 0 exactly where el + er > 0, the LeakyReLU's branch), kept until the exponentials.
    T* att = a.attention != nullptr ? a.attention + b * H : nullptr;
    if (att != nullptr) std::copy(weights.begin(), weights.begin() + (e - b) * H, att);
    for (int64_t k = 0; k < (e - b) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) weights[k + h] -= m[h];
    }
    exp_all(weights.data(), weights.data(), (e - b) * H);
    for (int64_t k = 0; k < (e - b) * H; k += H) {
      for (int64_t h = 0; h < H; ++h) s[h] += weights[k + h];
    }
    for (int64_t h = 0; h < H; ++h) {
      a.lse[r * H + h] = e > b ? m[h] + std::log(s[h]) : -std::numeric_limits<T>::infinity();
      s[h] = e > b ? T(1) / s[h] : T(0);
    }
    if (att != nullptr) {
      for (int64_t k = 0; k < (e - b) * H; k += H) {
        for (int64_t h = 0; h < H; ++h) {
          const T attention = weights[k + h] * s[h];
          att[k + h] = att[k + h] > 0 ? attention : -attention;
        }
      }
    }
    for (int64_t h = 0; h < H; ++h) s[h] *= keep_scale;  // from here on: the factor of each exponential
    const uint8_t* kept_row = keep.of_edges(b, e);
    if (a.kept != nullptr) std::copy(kept_row, kept_row + (e - b) * H, a.kept + b * H);
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
    // Added after the sum, while the row is in L1: the same rounding as adding it to the op's output.
    if (a.bias != nullptr) {
      for (int64_t j = 0; j < H * D; ++j) out[j] += a.bias[j];
    }
  }
}

// Backward in two passes over the attention the forward saved, so that each source's feature row and each
// destination's grad_out row is read once per edge in all: the attention gradient <grad_out[r], feat[s]> and the
// features' gradient sum_e a_e k_e grad_out[r] are taken in one pass over the edges in source order.
// Pass 1 (sources [cb, ce) in source order): per edge grad_a = k <grad_out[r], feat[s]> into grad_logit, with k
// the keep factor (0 or 1 / (1 - rate)), and grad_feat[s] = sum over s's edges of a k grad_out[r].
template <typename T>
[[gnu::always_inline]] inline void source_pass_impl(const BackwardArgs<T>& b, int64_t cb, int64_t ce) {
  const ForwardArgs<T>& a = b.fwd;
  const int64_t H = a.H, D = a.D;
  const SourceOrder& o = *b.order;
  const T keep_scale = a.params.dropout > 0 ? T(1) / (T(1) - static_cast<T>(a.params.dropout)) : T(1);
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
        if (b.kept != nullptr) __builtin_prefetch(b.kept + ahead.edge * H);
      }
      const int64_t i = o.slots[k].edge;
      const T* g = b.grad_out + o.slots[k].row * H * D;
      for (int64_t h = 0; h < H; ++h) {
        if (b.kept != nullptr && !b.kept[i * H + h]) {
          b.grad_logit[i * H + h] = T(0);  // dropped: grad_a = 0, and nothing reaches the features
          continue;
        }
        b.grad_logit[i * H + h] = keep_scale * dot(g + h * D, f + h * D, D);
        if (gf != nullptr) {
          const T weight = std::abs(b.attention[i * H + h]) * keep_scale;
          T* __restrict gf_h = gf + h * D;
          const T* __restrict g_h = g + h * D;
          for (int64_t j = 0; j < D; ++j) gf_h[j] += weight * g_h[j];
        }
      }
    }
  }
}

// Pass 2 (rows): the softmax gradient needs sum_e a_e grad_a_e, which is <grad_out_r, out_r> (so the forward's
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
#define GRAPHMAE2_GAT_PASS(name, Args)                                                            \
  template <typename T>                                                                           \
  [[gnu::target("avx2,fma")]] void name##_avx2(const Args<T>& args, int64_t begin, int64_t end) { \
    name##_impl(args, begin, end);                                                                \
  }                                                                                               \
  template <typename T>                                                                           \
  void name(const Args<T>& args, int64_t begin, int64_t end) {                                    \
    if (use_avx2_fma()) return name##_avx2(args, begin, end);                                     \
    name##_impl(args, begin, end);                                                                \
  }
#else
#define GRAPHMAE2_GAT_PASS(name, Args)                         \
  template <typename T>                                        \
  void name(const Args<T>& args, int64_t begin, int64_t end) { \
    name##_impl(args, begin, end);                             \
  }
#endif
GRAPHMAE2_GAT_PASS(forward_rows, ForwardArgs)
GRAPHMAE2_GAT_PASS(source_pass, BackwardArgs)
GRAPHMAE2_GAT_PASS(logit_grad_rows, BackwardArgs)
#undef GRAPHMAE2_GAT_PASS

template <typename T>
ForwardArgs<T> forward_args(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat,
                            const torch::Tensor& el, const torch::Tensor& er, const GatAttentionParams& params) {
  return {indptr.data_ptr<int64_t>(),
          indices.data_ptr<int64_t>(),
          feat.data_ptr<T>(),
          el.data_ptr<T>(),
          er.data_ptr<T>(),
          nullptr,
          feat.size(1),
          feat.size(2),
          params,
          nullptr,
          nullptr,
          nullptr,
          nullptr};
}

// d el: each source's logit gradients [E, H] summed over its edges, in edge order (index_add_'s order). One
// serial pass: the sums (C x H) stay in cache while the edges stream, faster than a parallel pass over the source
// order, whose reads of the edges' gradients are scattered (docs/performance.md).
torch::Tensor sum_by_source(const torch::Tensor& indices, const torch::Tensor& per_edge, int64_t num_sources) {
  const int64_t E = per_edge.size(0), H = per_edge.size(1);
  auto out = torch::zeros({num_sources, H}, per_edge.options());
  AT_DISPATCH_FLOATING_TYPES(per_edge.scalar_type(), "gat_attention_sum_by_source", [&] {
    const scalar_t* in = per_edge.data_ptr<scalar_t>();
    const int64_t* source = indices.data_ptr<int64_t>();
    scalar_t* sums = out.data_ptr<scalar_t>();
    for (int64_t e = 0; e < E; ++e) {
      scalar_t* sum = sums + source[e] * H;
      for (int64_t h = 0; h < H; ++h) sum[h] += in[e * H + h];
    }
  });
  return out;
}

}  // namespace

GatAttentionForward gat_attention_forward(const torch::Tensor& indptr, const torch::Tensor& indices,
                                          const torch::Tensor& feat, const torch::Tensor& el, const torch::Tensor& er,
                                          const torch::Tensor& bias, const GatAttentionParams& params,
                                          bool save_attention) {
  const int64_t R = indptr.size(0) - 1, E = indices.size(0), H = feat.size(1), D = feat.size(2);
  GatAttentionForward result;
  result.out = torch::empty({R, H, D}, feat.options());
  result.lse = torch::empty({R, H}, feat.options());
  if (save_attention) {
    result.attention = torch::empty({E, H}, feat.options());
    if (params.dropout > 0) result.kept = torch::empty({E, H}, feat.options().dtype(torch::kUInt8));
  }
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "gat_attention_forward", [&] {
    auto args = forward_args<scalar_t>(indptr, indices, feat, el, er, params);
    if (bias.defined()) args.bias = bias.data_ptr<scalar_t>();
    args.out = result.out.data_ptr<scalar_t>();
    args.lse = result.lse.data_ptr<scalar_t>();
    if (result.attention.defined()) args.attention = result.attention.data_ptr<scalar_t>();
    if (result.kept.defined()) args.kept = result.kept.data_ptr<uint8_t>();
    parallel_for_rows(args.indptr, R, H * D, [&](int64_t rb, int64_t re) { forward_rows(args, rb, re); });
  });
  return result;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> gat_attention_backward(
    const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& feat, const torch::Tensor& el,
    const torch::Tensor& er, const torch::Tensor& attention, const torch::Tensor& kept, const torch::Tensor& grad_out,
    const GatAttentionParams& params, bool needs_feat) {
  const int64_t R = indptr.size(0) - 1, E = indices.size(0), C = feat.size(0), H = feat.size(1), D = feat.size(2);
  TORCH_CHECK(attention.defined() && attention.sizes() == torch::IntArrayRef({E, H}) &&
                  attention.scalar_type() == feat.scalar_type(),
              "gat_attention_backward: the forward's saved attention should be [", E, ", ", H, "] ", feat.scalar_type(),
              ", got ", attention.defined() ? attention.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(params.dropout <= 0 || (kept.defined() && kept.sizes() == attention.sizes()),
              "gat_attention_backward: dropout ", params.dropout, " needs the forward's keep flags [", E, ", ", H, "]");
  auto grad_logit = torch::empty({E, H}, feat.options());
  auto grad_er = torch::empty({R, H}, feat.options());
  auto grad_feat = needs_feat ? torch::empty({C, H, D}, feat.options()) : torch::Tensor();
  const SourceOrder order = source_order(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), R, C);
  AT_DISPATCH_FLOATING_TYPES(feat.scalar_type(), "gat_attention_backward", [&] {
    const BackwardArgs<scalar_t> args{forward_args<scalar_t>(indptr, indices, feat, el, er, params),
                                      grad_out.data_ptr<scalar_t>(),
                                      attention.data_ptr<scalar_t>(),
                                      params.dropout > 0 ? kept.data_ptr<uint8_t>() : nullptr,
                                      grad_logit.data_ptr<scalar_t>(),
                                      grad_er.data_ptr<scalar_t>(),
                                      needs_feat ? grad_feat.data_ptr<scalar_t>() : nullptr,
                                      &order};
    parallel_for_rows(order.col_ptr.data(), C, H * D, [&](int64_t cb, int64_t ce) { source_pass(args, cb, ce); });
    parallel_for_rows(args.fwd.indptr, R, H, [&](int64_t rb, int64_t re) { logit_grad_rows(args, rb, re); });
  });
  return {grad_feat, sum_by_source(indices, grad_logit, C), grad_er};
}

}  // namespace graphmae2::graph::cpu
