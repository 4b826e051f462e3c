#include "graph/sampling/cpu/random_walk_kernel.h"

#include "graph/sampling/common.h"

#include <ATen/Parallel.h>

namespace graphmae2::graph::sampling::cpu {

torch::Tensor random_walk(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& roots,
                          int64_t walk_length, uint64_t seed) {
  const int64_t num_walks = roots.size(0);
  auto walks = torch::empty({num_walks, walk_length + 1}, torch::kLong);
  const int64_t* ip = indptr.data_ptr<int64_t>();
  const int64_t* ix = indices.data_ptr<int64_t>();
  const int64_t* rt = roots.data_ptr<int64_t>();
  int64_t* out = walks.data_ptr<int64_t>();
  at::parallel_for(0, num_walks, 1024, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      sampling::RandomStream rng(seed, sampling::kRandomWalkStream, static_cast<uint64_t>(i));
      sampling::random_walk(rng, ip, ix, rt[i], walk_length, out + i * (walk_length + 1));
    }
  });
  return walks;
}

}  // namespace graphmae2::graph::sampling::cpu
