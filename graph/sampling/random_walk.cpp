#include "graph/sampling/random_walk.h"

#include "graph/sampling/cpu/random_walk_kernel.h"
#include "graph/sampling/cuda/random_walk_bridge.h"
#include "graph/ops/dispatch.h"

namespace graphmae2::graph::sampling {

torch::Tensor random_walk(const CsrGraph& graph, const torch::Tensor& roots, int64_t walk_length, uint64_t seed) {
  TORCH_CHECK(graph.indptr.defined() && graph.indices.defined(), "random_walk: the graph is empty (no indptr)");
  TORCH_CHECK(graph.is_square(), "random_walk: the graph must be square, got ", graph.summary());
  TORCH_CHECK(walk_length >= 1, "random_walk: walk length must be >= 1, got ", walk_length);
  TORCH_CHECK(roots.defined() && roots.dim() == 1, "random_walk: roots must be a 1-D tensor");
  TORCH_CHECK(roots.scalar_type() == torch::kLong, "random_walk: roots must be int64, got ", roots.scalar_type());
  TORCH_CHECK(roots.device() == graph.indptr.device(), "random_walk: roots on ", roots.device(), " but the graph on ",
              graph.indptr.device());
  TORCH_CHECK(roots.is_cpu() || roots.is_cuda(), "random_walk: unsupported device ", roots.device());
  if (roots.numel() > 0) {
    const auto [lo, hi] = torch::aminmax(roots);  // a host read (one sync on CUDA)
    const int64_t min_id = lo.item<int64_t>(), max_id = hi.item<int64_t>();
    TORCH_CHECK(min_id >= 0 && max_id < graph.num_nodes(), "random_walk: root ", min_id < 0 ? min_id : max_id,
                " is out of range for a graph of ", graph.num_nodes(), " nodes");
  }
  const auto indptr = graph.indptr.contiguous(), indices = graph.indices.contiguous(), r = roots.contiguous();
  return dispatch_by_device(
      "random_walk", r, [&] { return cpu::random_walk(indptr, indices, r, walk_length, seed); },
      [&] { return cuda::random_walk(indptr, indices, r, walk_length, seed); });
}

}  // namespace graphmae2::graph::sampling
