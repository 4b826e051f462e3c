#include "graph/sampling/cuda/neighbor_sample_bridge.h"

#include "graph/sampling/cuda/neighbor_sample_kernel.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace graphmae2::graph::sampling::cuda {

using graph::cuda::caching_allocator;

Block sample_neighbors(const torch::Tensor& indptr, const torch::Tensor& indices,
                       const std::optional<torch::Tensor>& weights, const torch::Tensor& dst, int64_t fanout,
                       uint64_t seed, uint64_t stream_id, bool return_edge_ids) {
  const c10::cuda::CUDAGuard guard(dst.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t n = dst.size(0);
  const auto long_options = dst.options().dtype(torch::kLong);
  const float* w = weights ? weights->data_ptr<float>() : nullptr;

  auto counts = torch::empty({n}, long_options);
  launch_sample_counts(indptr.data_ptr<int64_t>(), w, dst.data_ptr<int64_t>(), n, fanout, counts.data_ptr<int64_t>(),
                       stream);
  auto out_indptr = torch::cat({torch::zeros({1}, long_options), counts.cumsum(0)});
  // Output size bound without a host read when fan-out >= 0; all neighbours need the exact count (one sync).
  const int64_t capacity = fanout >= 0 ? n * fanout : out_indptr[n].item<int64_t>();
  auto edge_ids = torch::empty({capacity}, long_options);
  auto src = torch::empty({capacity}, long_options);
  launch_sample_neighbors(indptr.data_ptr<int64_t>(), indices.data_ptr<int64_t>(), w, dst.data_ptr<int64_t>(), n,
                          fanout, seed, stream_id, out_indptr.data_ptr<int64_t>(), capacity,
                          edge_ids.data_ptr<int64_t>(), src.data_ptr<int64_t>(), caching_allocator(), stream);

  // Relabel in first-appearance order: the unused tail of the output is filled with the first destination, which
  // is already a source, so it changes nothing. torch::unique reads its output size on the host: the one sync.
  const auto num_edges_dev = out_indptr.narrow(0, n, 1);
  const auto slot = torch::arange(capacity, long_options);
  if (n > 0) src = torch::where(slot < num_edges_dev, src, dst[0]);
  const auto all = torch::cat({dst, src});
  const auto unique_result = torch::_unique2(all, /*sorted=*/true, /*return_inverse=*/true, /*return_counts=*/false);
  const auto& unique_nodes = std::get<0>(unique_result);
  const auto& inverse = std::get<1>(unique_result);
  const int64_t num_unique = unique_nodes.size(0);
  auto first_position = torch::full({num_unique}, all.size(0), long_options)
                            .scatter_reduce(0, inverse, torch::arange(all.size(0), long_options), "amin");
  const auto order = first_position.argsort();
  auto local_of_unique =
      torch::empty({num_unique}, long_options).scatter_(0, order, torch::arange(num_unique, long_options));
  auto src_ids = unique_nodes.index_select(0, order);
  const int64_t num_edges = num_edges_dev.item<int64_t>();  // the stream is idle after unique's sync: no stall
  auto local = local_of_unique.index_select(0, inverse.narrow(0, n, num_edges));
  CsrGraph block_graph(out_indptr, local, num_unique, std::nullopt, /*validate=*/false);
  return Block(Block::unchecked, std::move(block_graph), std::move(src_ids),
               return_edge_ids ? std::optional<torch::Tensor>(edge_ids.narrow(0, 0, num_edges)) : std::nullopt);
}

}  // namespace graphmae2::graph::sampling::cuda
