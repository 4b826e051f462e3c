#include "graph/ops/cuda/dropout_bridge.h"

#include "graph/ops/cuda/dropout_kernel.h"
#include "graph/ops/cuda/kernel_type.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace graphmae2::graph::cuda {

torch::Tensor dropout_forward(const torch::Tensor& in, const torch::Tensor& like, const cpu::DropoutParams& params) {
  TORCH_CHECK(params.rate >= 0 && params.rate < 1, "dropout: rate must be in [0, 1), got ", params.rate);
  const auto& shape = in.defined() ? in : like;
  const c10::cuda::CUDAGuard guard(shape.device());
  const auto input = in.defined() ? in.contiguous() : torch::Tensor();
  auto out = torch::empty(shape.sizes(), shape.options().memory_format(torch::MemoryFormat::Contiguous));
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(torch::kHalf, torch::kBFloat16, out.scalar_type(), "dropout_forward", [&] {
    using K = typename KernelType<scalar_t>::type;
    const K* ip = input.defined() ? kernel_ptr<scalar_t>(input) : nullptr;
    launch_dropout<K>(ip, reinterpret_cast<K*>(out.data_ptr<scalar_t>()), out.numel(), params.rate, params.seed,
                      params.offset, stream);
  });
  return out;
}

}  // namespace graphmae2::graph::cuda
