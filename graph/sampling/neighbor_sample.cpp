#include "graph/sampling/neighbor_sample.h"

#include "graph/sampling/cpu/neighbor_sample_kernel.h"
#include "graph/sampling/cuda/neighbor_sample_bridge.h"
#include "graph/ops/dispatch.h"

namespace graphmae2::graph::sampling {

namespace {

void check_inputs(const CsrGraph& graph, const torch::Tensor& dst_nodes, int64_t fanout,
                  const NeighborSampleOptions& options) {
  TORCH_CHECK(graph.indptr.defined() && graph.indices.defined(), "sample_neighbors: the graph is empty (no indptr)");
  TORCH_CHECK(graph.is_square(),
              "sample_neighbors: the graph must be square (destinations and sources share ids), got ", graph.summary());
  TORCH_CHECK(fanout >= -1, "sample_neighbors: fan-out must be >= 0 or -1 (all neighbours), got ", fanout);
  TORCH_CHECK(dst_nodes.defined(), "sample_neighbors: the destination nodes are undefined");
  TORCH_CHECK(dst_nodes.dim() == 1, "sample_neighbors: destination nodes must be 1-D, got shape ", dst_nodes.sizes());
  TORCH_CHECK(dst_nodes.scalar_type() == torch::kLong, "sample_neighbors: destination nodes must be int64, got ",
              dst_nodes.scalar_type());
  TORCH_CHECK(dst_nodes.device() == graph.indptr.device(), "sample_neighbors: destination nodes on ",
              dst_nodes.device(), " but the graph on ", graph.indptr.device());
  TORCH_CHECK(dst_nodes.is_cpu() || dst_nodes.is_cuda(), "sample_neighbors: unsupported device ", dst_nodes.device());
  if (options.weighted) {
    TORCH_CHECK(graph.weights.has_value(), "sample_neighbors: weighted sampling needs a graph with edge weights");
    TORCH_CHECK(graph.weights->scalar_type() == torch::kFloat, "sample_neighbors: edge weights must be float32, got ",
                graph.weights->scalar_type());
    // One reduction over the weights (a host read on CUDA): a negative or non-finite weight would make the
    // draw silently wrong.
    const auto bad = (graph.weights->lt(0) | ~torch::isfinite(*graph.weights)).nonzero();
    if (bad.size(0) > 0) {
      const int64_t e = bad[0][0].item<int64_t>();
      TORCH_CHECK(false, "sample_neighbors: edge weights must be finite and >= 0; edge ", e, " has weight ",
                  (*graph.weights)[e].item<float>());
    }
  }
  if (dst_nodes.numel() > 0) {
    // Reads the destinations' range on the host (one sync on CUDA).
    const auto [lo, hi] = torch::aminmax(dst_nodes);
    const int64_t min_id = lo.item<int64_t>(), max_id = hi.item<int64_t>();
    TORCH_CHECK(min_id >= 0 && max_id < graph.num_nodes(), "sample_neighbors: destination node ",
                min_id < 0 ? min_id : max_id, " is out of range for a graph of ", graph.num_nodes(), " nodes");
  }
}

}  // namespace

Block sample_neighbors(const CsrGraph& graph, const torch::Tensor& dst_nodes, int64_t fanout, uint64_t seed,
                       uint64_t stream, const NeighborSampleOptions& options) {
  check_inputs(graph, dst_nodes, fanout, options);
  const auto indptr = graph.indptr.contiguous();
  const auto indices = graph.indices.contiguous();
  const auto dst = dst_nodes.contiguous();
  const std::optional<torch::Tensor> weights =
      options.weighted ? std::optional<torch::Tensor>(graph.weights->contiguous()) : std::nullopt;
  return dispatch_by_device(
      "sample_neighbors", dst,
      [&] {
        return cpu::sample_neighbors(indptr, indices, weights, dst, fanout, seed, stream, options.return_edge_ids);
      },
      [&] {
        return cuda::sample_neighbors(indptr, indices, weights, dst, fanout, seed, stream, options.return_edge_ids);
      });
}

SampledBlocks sample_blocks(const CsrGraph& graph, const torch::Tensor& seeds, const std::vector<int64_t>& fanouts,
                            uint64_t seed, const NeighborSampleOptions& options) {
  TORCH_CHECK(!fanouts.empty(), "sample_blocks: the fan-out list is empty (one fan-out per layer is needed)");
  SampledBlocks out;
  out.seeds = seeds;
  out.blocks.resize(fanouts.size());
  torch::Tensor frontier = seeds;
  for (auto layer = static_cast<int64_t>(fanouts.size()) - 1; layer >= 0; --layer) {
    const auto l = static_cast<size_t>(layer);
    out.blocks[l] = sample_neighbors(graph, frontier, fanouts[l], seed, static_cast<uint64_t>(layer), options);
    frontier = out.blocks[l].src_ids;
  }
  out.input_nodes = frontier;
  return out;
}

}  // namespace graphmae2::graph::sampling
