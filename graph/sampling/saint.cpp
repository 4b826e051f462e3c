#include "graph/sampling/saint.h"

#include "graph/sampling/batch.h"
#include "graph/sampling/random_walk.h"
#include "graph/sampling/common.h"

namespace graphmae2::graph::sampling {

namespace {

/// Stream id of the roots' draws (random_walk's own draws use kRandomWalkStream).
constexpr uint64_t kSaintRootStream = 0x5A1A7'0000'0002ULL;

}  // namespace

SaintSample saint_random_walk_sample(const CsrGraph& graph_in, int64_t num_roots, int64_t walk_length, uint64_t seed) {
  TORCH_CHECK(num_roots >= 1, "saint_random_walk_sample: the number of roots must be >= 1, got ", num_roots);
  TORCH_CHECK(walk_length >= 1, "saint_random_walk_sample: walk length must be >= 1, got ", walk_length);
  TORCH_CHECK(graph_in.indptr.defined() && graph_in.num_nodes() > 0,
              "saint_random_walk_sample: the graph has no nodes");
  const auto graph = graph_in.to(torch::kCPU);
  SaintSample out;
  out.roots = torch::empty({num_roots}, torch::kLong);
  int64_t* roots = out.roots.data_ptr<int64_t>();
  sampling::RandomStream rng(seed, kSaintRootStream, 0);
  const auto num_nodes = static_cast<uint64_t>(graph.num_nodes());
  for (int64_t i = 0; i < num_roots; ++i) roots[i] = static_cast<int64_t>(rng.below(num_nodes));
  const auto walks = random_walk(graph, out.roots, walk_length, seed).flatten();
  const auto visited = std::get<0>(torch::_unique(walks.masked_select(walks >= 0), /*sorted=*/true));
  const auto batched =
      batched_induced_subgraphs(graph, torch::tensor({int64_t{0}, visited.size(0)}, torch::kLong), visited);
  out.subgraph = Subgraph{batched.graph, batched.node_ids, batched.edge_ids};
  return out;
}

}  // namespace graphmae2::graph::sampling
