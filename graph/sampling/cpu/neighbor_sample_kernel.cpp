#include "graph/sampling/cpu/neighbor_sample_kernel.h"

#include "graph/sampling/cpu/node_map.h"
#include "graph/cpu/parallel.h"
#include "graph/sampling/common.h"

#include <ATen/Parallel.h>

#include <vector>

namespace graphmae2::graph::sampling::cpu {

namespace {

/// Edges node v keeps: min(fanout, degree), or, weighted, min(fanout, edges of positive weight).
int64_t kept_edges(const int64_t* indptr, const float* weights, int64_t v, int64_t fanout) {
  const int64_t degree = indptr[v + 1] - indptr[v];
  if (weights == nullptr) return sampling::sample_count(degree, fanout);
  int64_t positive = 0;
  for (int64_t e = indptr[v]; e < indptr[v + 1]; ++e) positive += weights[e] > 0.0f;
  return fanout < 0 ? positive : std::min(positive, fanout);
}

}  // namespace

Block sample_neighbors(const torch::Tensor& indptr, const torch::Tensor& indices,
                       const std::optional<torch::Tensor>& weights, const torch::Tensor& dst, int64_t fanout,
                       uint64_t seed, uint64_t stream, bool return_edge_ids) {
  const int64_t num_nodes = indptr.size(0) - 1;
  const int64_t n = dst.size(0);
  const int64_t* ip = indptr.data_ptr<int64_t>();
  const int64_t* ix = indices.data_ptr<int64_t>();
  const float* w = weights ? weights->data_ptr<float>() : nullptr;
  const int64_t* d = dst.data_ptr<int64_t>();

  auto out_indptr = torch::empty({n + 1}, torch::kLong);
  int64_t* op = out_indptr.data_ptr<int64_t>();
  op[0] = 0;
  at::parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) op[i + 1] = kept_edges(ip, w, d[i], fanout);
  });
  for (int64_t i = 0; i < n; ++i) op[i + 1] += op[i];
  const int64_t num_edges = op[n];

  auto edge_ids = torch::empty({num_edges}, torch::kLong);
  auto local = torch::empty({num_edges}, torch::kLong);
  int64_t* eid = edge_ids.data_ptr<int64_t>();
  int64_t* src = local.data_ptr<int64_t>();

  // A destination costs about its output edges, or its degree when the reservoir / weighted path scans them.
  graph::cpu::parallel_for_rows(op, n, 1, [&](int64_t b, int64_t e) {
    std::vector<double> keys;
    for (int64_t i = b; i < e; ++i) {
      const int64_t v = d[i];
      const int64_t degree = ip[v + 1] - ip[v];
      int64_t* positions = eid + op[i];
      sampling::RandomStream rng(seed, stream, static_cast<uint64_t>(v));
      if (w == nullptr) {
        sampling::sample_positions_uniform(rng, degree, fanout, positions);
      } else {
        keys.resize(static_cast<size_t>(std::max<int64_t>(fanout, 0)));
        sampling::sample_positions_weighted(rng, w + ip[v], degree, fanout, positions, keys.data());
      }
      for (int64_t j = op[i]; j < op[i + 1]; ++j) {
        eid[j] += ip[v];
        src[j] = ix[eid[j]];
      }
    }
  });

  // Relabel: destinations first, then new sources in order of first appearance (serial: the order is the contract).
  NodeMap& map = thread_node_map(num_nodes);
  std::vector<int64_t> src_ids(d, d + n);
  for (int64_t i = 0; i < n; ++i) {
    if (map.get(d[i]) >= 0) {
      const int64_t first = map.get(d[i]);
      map.reset(src_ids.data(), i);
      TORCH_CHECK(false, "sample_neighbors: destination node ", d[i], " is repeated (positions ", first, " and ", i,
                  "); destinations must be distinct");
    }
    map.set(d[i], i);
  }
  for (int64_t j = 0; j < num_edges; ++j) {
    const int64_t u = src[j];
    int64_t l = map.get(u);
    if (l < 0) {
      l = static_cast<int64_t>(src_ids.size());
      map.set(u, l);
      src_ids.push_back(u);
    }
    src[j] = l;
  }
  map.reset(src_ids.data(), static_cast<int64_t>(src_ids.size()));

  const auto num_src = static_cast<int64_t>(src_ids.size());
  auto src_tensor = torch::from_blob(src_ids.data(), {num_src}, torch::kLong).clone();
  CsrGraph block_graph(out_indptr, local, num_src, std::nullopt, /*validate=*/false);
  return Block(Block::unchecked, std::move(block_graph), std::move(src_tensor),
               return_edge_ids ? std::optional<torch::Tensor>(edge_ids) : std::nullopt);
}

}  // namespace graphmae2::graph::sampling::cpu
