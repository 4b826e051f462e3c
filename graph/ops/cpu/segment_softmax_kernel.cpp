#include "graph/ops/cpu/segment_softmax_kernel.h"

#include "graph/cpu/parallel.h"

#include <cmath>
#include <limits>
#include <vector>

namespace graphmae2::graph::cpu {

namespace {

// Pass 1 of the forward: out = scores - rowmax (per head); torch's vectorised exp_ follows.
template <typename scalar_t>
void subtract_row_max(const scalar_t* scores, const int64_t* indptr, int64_t rb, int64_t re, int64_t H, scalar_t* out) {
  std::vector<scalar_t> mx(H);
  for (int64_t r = rb; r < re; ++r) {
    const int64_t b = indptr[r], e = indptr[r + 1];
    if (b == e) continue;
    std::fill(mx.begin(), mx.end(), -std::numeric_limits<scalar_t>::infinity());
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) mx[h] = std::max(mx[h], scores[i + h]);
    }
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) out[i + h] = scores[i + h] - mx[h];
    }
  }
}

// Pass 2 of the forward: divide the exponentials by their row sums.
template <typename scalar_t>
void normalize_rows(const int64_t* indptr, int64_t rb, int64_t re, int64_t H, scalar_t* out) {
  std::vector<scalar_t> sum(H);
  for (int64_t r = rb; r < re; ++r) {
    const int64_t b = indptr[r], e = indptr[r + 1];
    if (b == e) continue;
    std::fill(sum.begin(), sum.end(), scalar_t(0));
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) sum[h] += out[i + h];
    }
    for (int64_t h = 0; h < H; ++h) sum[h] = scalar_t(1) / sum[h];
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) out[i + h] *= sum[h];
    }
  }
}

template <typename scalar_t>
void backward_rows(const scalar_t* out, const scalar_t* grad_out, const int64_t* indptr, int64_t rb, int64_t re,
                   int64_t H, scalar_t* grad_in) {
  std::vector<scalar_t> dot(H);
  for (int64_t r = rb; r < re; ++r) {
    const int64_t b = indptr[r], e = indptr[r + 1];
    if (b == e) continue;
    std::fill(dot.begin(), dot.end(), scalar_t(0));
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) dot[h] += out[i + h] * grad_out[i + h];
    }
    for (int64_t i = b * H; i < e * H; i += H) {
      for (int64_t h = 0; h < H; ++h) grad_in[i + h] = out[i + h] * (grad_out[i + h] - dot[h]);
    }
  }
}

}  // namespace

torch::Tensor segment_softmax_forward(const torch::Tensor& scores, const torch::Tensor& indptr) {
  auto out = torch::empty_like(scores);
  const int64_t H = scores.size(1);
  const int64_t num_rows = indptr.size(0) - 1;
  if (out.numel() == 0) return out;
  const int64_t* ip = indptr.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(scores.scalar_type(), "segment_softmax_forward_cpu", [&] {
    const scalar_t* s = scores.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    parallel_for_rows(ip, num_rows, 2 * H, [&](int64_t rb, int64_t re) { subtract_row_max(s, ip, rb, re, H, o); });
    out.exp_();
    parallel_for_rows(ip, num_rows, 2 * H, [&](int64_t rb, int64_t re) { normalize_rows(ip, rb, re, H, o); });
  });
  return out;
}

torch::Tensor segment_softmax_backward(const torch::Tensor& out, const torch::Tensor& grad_out,
                                       const torch::Tensor& indptr) {
  auto grad_in = torch::empty_like(out);
  const int64_t H = out.size(1);
  const int64_t num_rows = indptr.size(0) - 1;
  if (grad_in.numel() == 0) return grad_in;
  const int64_t* ip = indptr.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "segment_softmax_backward_cpu", [&] {
    const scalar_t* y = out.data_ptr<scalar_t>();
    const scalar_t* g = grad_out.data_ptr<scalar_t>();
    scalar_t* gi = grad_in.data_ptr<scalar_t>();
    parallel_for_rows(ip, num_rows, 3 * H, [&](int64_t rb, int64_t re) { backward_rows(y, g, ip, rb, re, H, gi); });
  });
  return grad_in;
}

}  // namespace graphmae2::graph::cpu
