#include "graph/sampling/cuda/random_walk_bridge.h"

#include "graph/sampling/cuda/random_walk_kernel.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace graphmae2::graph::sampling::cuda {

torch::Tensor random_walk(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& roots,
                          int64_t walk_length, uint64_t seed) {
  const c10::cuda::CUDAGuard guard(roots.device());
  auto walks = torch::empty({roots.size(0), walk_length + 1}, roots.options());
  launch_random_walk(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), roots.data_ptr<int64_t>(), roots.size(0),
                     walk_length, seed, walks.data_ptr<int64_t>(), c10::cuda::getCurrentCUDAStream());
  return walks;
}

}  // namespace graphmae2::graph::sampling::cuda
