#pragma once
// torch's scalar types as the CUDA kernels' types (same layout), for the torch bridges (graph/ops/cuda/*_bridge.cpp,
// compiled only with a CUDA LibTorch).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <torch/torch.h>

namespace graphmae2::graph::cuda {

template <typename T>
struct KernelType {
  using type = T;
};
template <>
struct KernelType<c10::Half> {
  using type = __half;
};
template <>
struct KernelType<c10::BFloat16> {
  using type = __nv_bfloat16;
};

template <typename T>
const typename KernelType<T>::type* kernel_ptr(const torch::Tensor& t) {
  return reinterpret_cast<const typename KernelType<T>::type*>(t.data_ptr<T>());
}

}  // namespace graphmae2::graph::cuda
