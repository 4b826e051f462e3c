#include "graph/ops/cuda/spmm_bridge.h"

#include "graph/ops/cuda/spmm_kernel.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace graphmae2::graph::cuda {

torch::Tensor spmm_forward(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                           const torch::Tensor& x) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t num_rows = indptr.size(0) - 1, H = x.size(1), F = x.size(2);
  auto out = torch::empty({num_rows, H, F}, x.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (x.scalar_type() == torch::kFloat) {
    launch_spmm_forward(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), weights.data_ptr<float>(),
                        x.data_ptr<float>(), num_rows, H, F, out.data_ptr<float>(), stream);
  } else {
    launch_spmm_forward(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), weights.data_ptr<double>(),
                        x.data_ptr<double>(), num_rows, H, F, out.data_ptr<double>(), stream);
  }
  return out;
}

torch::Tensor spmm_backward_weights(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& x,
                                    const torch::Tensor& grad_out) {
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t num_rows = indptr.size(0) - 1, num_edges = indices.size(0), H = x.size(1), F = x.size(2);
  auto grad_w = torch::empty({num_edges, H}, x.options());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (x.scalar_type() == torch::kFloat) {
    launch_spmm_weights_grad(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.data_ptr<float>(),
                             grad_out.data_ptr<float>(), num_rows, num_edges, H, F, grad_w.data_ptr<float>(), stream);
  } else {
    launch_spmm_weights_grad(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), x.data_ptr<double>(),
                             grad_out.data_ptr<double>(), num_rows, num_edges, H, F, grad_w.data_ptr<double>(), stream);
  }
  return grad_w;
}

torch::Tensor spmm_backward_x(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& weights,
                              const torch::Tensor& grad_out, int64_t num_cols) {
  const c10::cuda::CUDAGuard guard(weights.device());
  const int64_t num_rows = indptr.size(0) - 1, num_edges = indices.size(0);
  // Transpose: edges sorted (stably) by column; output_size and searchsorted keep it free of device syncs.
  const auto [sorted_cols, perm] = indices.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  const auto rows = torch::repeat_interleave(torch::arange(num_rows, indptr.options()), indptr.diff(),
                                             /*dim=*/0, /*output_size=*/num_edges);
  const auto t_indices = rows.index_select(0, perm);
  const auto t_weights = weights.index_select(0, perm);
  const auto t_indptr = torch::searchsorted(sorted_cols, torch::arange(num_cols + 1, indptr.options()));
  return spmm_forward(t_indptr, t_indices, t_weights, grad_out);
}

}  // namespace graphmae2::graph::cuda
