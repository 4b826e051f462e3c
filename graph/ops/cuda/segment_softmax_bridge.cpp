#include "graph/ops/cuda/segment_softmax_bridge.h"

#include "graph/ops/cuda/segment_softmax_kernel.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace graphmae2::graph::cuda {

torch::Tensor segment_softmax_forward(const torch::Tensor& scores, const torch::Tensor& indptr) {
  const c10::cuda::CUDAGuard guard(scores.device());
  auto out = torch::empty_like(scores);
  const int64_t num_rows = indptr.size(0) - 1, num_edges = scores.size(0), H = scores.size(1);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (scores.scalar_type() == torch::kFloat) {
    launch_segment_softmax_forward(scores.data_ptr<float>(), indptr.data_ptr<int64_t>(), num_rows, num_edges, H,
                                   out.data_ptr<float>(), stream);
  } else {
    launch_segment_softmax_forward(scores.data_ptr<double>(), indptr.data_ptr<int64_t>(), num_rows, num_edges, H,
                                   out.data_ptr<double>(), stream);
  }
  return out;
}

torch::Tensor segment_softmax_backward(const torch::Tensor& out, const torch::Tensor& grad_out,
                                       const torch::Tensor& indptr) {
  const c10::cuda::CUDAGuard guard(out.device());
  auto grad_in = torch::empty_like(out);
  const int64_t num_rows = indptr.size(0) - 1, num_edges = out.size(0), H = out.size(1);
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (out.scalar_type() == torch::kFloat) {
    launch_segment_softmax_backward(out.data_ptr<float>(), grad_out.data_ptr<float>(), indptr.data_ptr<int64_t>(),
                                    num_rows, num_edges, H, grad_in.data_ptr<float>(), stream);
  } else {
    launch_segment_softmax_backward(out.data_ptr<double>(), grad_out.data_ptr<double>(), indptr.data_ptr<int64_t>(),
                                    num_rows, num_edges, H, grad_in.data_ptr<double>(), stream);
  }
  return grad_in;
}

}  // namespace graphmae2::graph::cuda
