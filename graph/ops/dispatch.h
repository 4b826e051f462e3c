#pragma once
// The one CPU/CUDA dispatcher of graphmae2's ops: the only place that knows whether the torch CUDA bridges
// (graph/**/cuda/*.cpp, built with a CUDA LibTorch: GRAPHMAE2_WITH_TORCH_CUDA) exist.

#include <torch/torch.h>

#include <utility>

namespace graphmae2::graph {

/// Returns: cuda_fn() when `tensor` is on a CUDA device, else cpu_fn(). Without a CUDA LibTorch, a CUDA tensor
/// throws "<op>: got CUDA tensors, but graphmae2 was built without CUDA kernels" and cuda_fn is never called
/// (nor emitted: the bridge it names need only be declared, so the bridge headers are included in every build).
/// Other devices go to cpu_fn; ops reject them at their boundary.
template <typename CpuFn, typename CudaFn>
decltype(auto) dispatch_by_device(const char* op, const torch::Tensor& tensor, CpuFn&& cpu_fn, CudaFn&& cuda_fn) {
  if (tensor.is_cuda()) {
#ifdef GRAPHMAE2_WITH_TORCH_CUDA
    return std::forward<CudaFn>(cuda_fn)();
#else
    (void)cuda_fn;
    TORCH_CHECK(false, op, ": got CUDA tensors, but graphmae2 was built without CUDA kernels");
#endif
  }
  return std::forward<CpuFn>(cpu_fn)();
}

/// The inputs the float kernels take: a CPU or CUDA tensor of float32 or float64, or float16 / bfloat16 on CUDA.
/// Otherwise throws "<op>: <what> must be float32 or float64 (or float16/bfloat16 on CUDA), got <dtype> on <device>".
inline void check_float_kernel_input(const char* op, const char* what, const torch::Tensor& t) {
  TORCH_CHECK(t.is_cpu() || t.is_cuda(), op, ": unsupported device ", t.device());
  const auto dtype = t.scalar_type();
  const bool float_type = dtype == torch::kFloat || dtype == torch::kDouble;
  const bool half_type = dtype == torch::kHalf || dtype == torch::kBFloat16;
  TORCH_CHECK(float_type || (half_type && t.is_cuda()), op, ": ", what, " must be float32 or float64",
              t.is_cuda() ? " (or float16/bfloat16 on CUDA)" : "", ", got ", dtype, " on ", t.device());
}

}  // namespace graphmae2::graph
