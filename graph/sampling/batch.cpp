#include "graph/sampling/batch.h"

#include "graph/sampling/cpu/node_map.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace graphmae2::graph::sampling {

namespace {

torch::Tensor host_long(const torch::Tensor& t) { return t.to(torch::kCPU).contiguous(); }

}  // namespace

BatchedGraph batch(const std::vector<Subgraph>& parts) {
  TORCH_CHECK(!parts.empty(), "batch: no graphs to batch");
  std::vector<torch::Tensor> indptrs, indices, node_ids, edge_ids, weights;
  std::vector<int64_t> offsets{0};
  int64_t edge_offset = 0;
  bool weighted = true;
  for (size_t b = 0; b < parts.size(); ++b) {
    const auto& g = parts[b].graph;
    TORCH_CHECK(g.indptr.defined() && g.is_square(), "batch: part ", b, " is not a square graph: ", g.summary());
    TORCH_CHECK(parts[b].node_ids.defined() && parts[b].node_ids.size(0) == g.num_nodes(), "batch: part ", b, " has ",
                g.num_nodes(), " nodes but ", parts[b].node_ids.defined() ? parts[b].node_ids.size(0) : 0, " node ids");
    TORCH_CHECK(parts[b].edge_ids.defined() && parts[b].edge_ids.size(0) == g.num_edges(), "batch: part ", b, " has ",
                g.num_edges(), " edges but ", parts[b].edge_ids.defined() ? parts[b].edge_ids.size(0) : 0, " edge ids");
    const auto ip = host_long(g.indptr);
    indptrs.push_back((b == 0 ? ip : ip.narrow(0, 1, ip.size(0) - 1)) + edge_offset);
    indices.push_back(host_long(g.indices) + offsets.back());
    node_ids.push_back(host_long(parts[b].node_ids));
    edge_ids.push_back(host_long(parts[b].edge_ids));
    if (g.weights)
      weights.push_back(g.weights->to(torch::kCPU));
    else
      weighted = false;
    edge_offset += g.num_edges();
    offsets.push_back(offsets.back() + g.num_nodes());
  }
  BatchedGraph out;
  const int64_t total = offsets.back();
  out.graph = CsrGraph(torch::cat(indptrs), torch::cat(indices), total,
                       weighted ? std::optional<torch::Tensor>(torch::cat(weights)) : std::nullopt, /*validate=*/false);
  out.node_offsets = torch::tensor(offsets, torch::kInt64);
  out.node_ids = torch::cat(node_ids);
  out.edge_ids = torch::cat(edge_ids);
  return out;
}

namespace {

/// The node sets of one batched_induced_subgraphs call, on the host: set s = nodes[sp[s] .. sp[s + 1]).
struct NodeSets {
  const int64_t* sp;
  const int64_t* sn;
  int64_t num_sets, total;
};

// The node sets' CSR must run from 0 to the node count without decreasing, and every id must be a node of the
// graph (repeats are found later, by the thread that owns the set).
void check_sets(const NodeSets& sets, int64_t n) {
  const int64_t *sp = sets.sp, *sn = sets.sn;
  const int64_t num_sets = sets.num_sets, total = sets.total;
  TORCH_CHECK(sp[0] == 0 && sp[num_sets] == total, "batched_induced_subgraphs: set_indptr must run from 0 to ", total,
              " (the node count), got ", sp[0], " .. ", sp[num_sets]);
  for (int64_t s = 0; s < num_sets; ++s) {
    TORCH_CHECK(sp[s + 1] >= sp[s], "batched_induced_subgraphs: set_indptr decreases at set ", s, " (", sp[s], " -> ",
                sp[s + 1], ")");
  }
  for (int64_t i = 0; i < total; ++i) {
    if (sn[i] < 0 || sn[i] >= n) {
      const int64_t s = std::upper_bound(sp, sp + num_sets + 1, i) - sp - 1;
      TORCH_CHECK(false, "batched_induced_subgraphs: set ", s, " position ", i - sp[s], " holds node ", sn[i],
                  ", out of range for a graph of ", n, " nodes");
    }
  }
}

// Pass 1: the batched indptr (edges kept per batched row); also finds repeated ids.
torch::Tensor count_kept_edges(const CsrGraph& graph, const NodeSets& sets) {
  const int64_t n = graph.num_nodes();
  const int64_t* ip = graph.indptr.data_ptr<int64_t>();
  const int64_t* ix = graph.indices.data_ptr<int64_t>();
  auto row_counts = torch::zeros({sets.total + 1}, torch::kInt64);
  int64_t* rc = row_counts.data_ptr<int64_t>();
  at::parallel_for(0, sets.num_sets, 8, [&](int64_t b, int64_t e) {
    auto& map = cpu::thread_node_map(n);
    for (int64_t s = b; s < e; ++s) {
      const int64_t* nodes = sets.sn + sets.sp[s];
      const int64_t k = sets.sp[s + 1] - sets.sp[s];
      for (int64_t i = 0; i < k; ++i) {
        if (map.get(nodes[i]) >= 0) {
          const int64_t first = map.get(nodes[i]);
          map.reset(nodes, i);
          TORCH_CHECK(false, "batched_induced_subgraphs: set ", s, " holds node ", nodes[i], " twice (positions ",
                      first, " and ", i, ")");
        }
        map.set(nodes[i], i);
      }
      for (int64_t i = 0; i < k; ++i) {
        int64_t kept = 0;
        for (int64_t q = ip[nodes[i]]; q < ip[nodes[i] + 1]; ++q) kept += map.get(ix[q]) >= 0;
        rc[sets.sp[s] + i + 1] = kept;
      }
      map.reset(nodes, k);
    }
  });
  return row_counts.cumsum(0);
}

// Pass 2: each row's kept edges, relabelled to batched ids, into indices and edge_ids (sized by `indptr`).
void write_kept_edges(const CsrGraph& graph, const NodeSets& sets, const torch::Tensor& indptr, torch::Tensor& indices,
                      torch::Tensor& edge_ids) {
  const int64_t n = graph.num_nodes();
  const int64_t* ip = graph.indptr.data_ptr<int64_t>();
  const int64_t* ix = graph.indices.data_ptr<int64_t>();
  const int64_t* op = indptr.data_ptr<int64_t>();
  int64_t* oi = indices.data_ptr<int64_t>();
  int64_t* oe = edge_ids.data_ptr<int64_t>();
  at::parallel_for(0, sets.num_sets, 8, [&](int64_t b, int64_t e) {
    auto& map = cpu::thread_node_map(n);
    for (int64_t s = b; s < e; ++s) {
      const int64_t* nodes = sets.sn + sets.sp[s];
      const int64_t k = sets.sp[s + 1] - sets.sp[s];
      for (int64_t i = 0; i < k; ++i) map.set(nodes[i], sets.sp[s] + i);
      for (int64_t i = 0; i < k; ++i) {
        int64_t out = op[sets.sp[s] + i];
        for (int64_t q = ip[nodes[i]]; q < ip[nodes[i] + 1]; ++q) {
          const int64_t local = map.get(ix[q]);
          if (local >= 0) {
            oi[out] = local;
            oe[out] = q;
            ++out;
          }
        }
      }
      map.reset(nodes, k);
    }
  });
}

}  // namespace

BatchedGraph batched_induced_subgraphs(const CsrGraph& graph_in, const torch::Tensor& set_indptr_in,
                                       const torch::Tensor& set_nodes_in) {
  TORCH_CHECK(graph_in.indptr.defined() && graph_in.is_square(),
              "batched_induced_subgraphs: the graph must be square, got ", graph_in.summary());
  TORCH_CHECK(set_indptr_in.defined() && set_indptr_in.dim() == 1 && set_indptr_in.size(0) >= 1 &&
                  set_indptr_in.scalar_type() == torch::kInt64,
              "batched_induced_subgraphs: set_indptr must be a non-empty 1-D int64 tensor");
  TORCH_CHECK(set_nodes_in.defined() && set_nodes_in.dim() == 1 && set_nodes_in.scalar_type() == torch::kInt64,
              "batched_induced_subgraphs: set_nodes must be a 1-D int64 tensor");
  const auto graph = graph_in.to(torch::kCPU);
  const auto set_indptr = host_long(set_indptr_in), set_nodes = host_long(set_nodes_in);
  const NodeSets sets{set_indptr.data_ptr<int64_t>(), set_nodes.data_ptr<int64_t>(), set_indptr.size(0) - 1,
                      set_nodes.size(0)};
  check_sets(sets, graph.num_nodes());

  const auto indptr = count_kept_edges(graph, sets);
  const int64_t num_edges = indptr.data_ptr<int64_t>()[sets.total];
  auto indices = torch::empty({num_edges}, torch::kInt64);
  auto edge_ids = torch::empty({num_edges}, torch::kInt64);
  write_kept_edges(graph, sets, indptr, indices, edge_ids);

  BatchedGraph out;
  std::optional<torch::Tensor> weights;
  if (graph.weights) weights = graph.weights->index_select(0, edge_ids);
  out.graph = CsrGraph(indptr, indices, sets.total, weights, /*validate=*/false);
  out.node_offsets = set_indptr.clone();
  out.node_ids = set_nodes.clone();
  out.edge_ids = edge_ids;
  return out;
}

}  // namespace graphmae2::graph::sampling
