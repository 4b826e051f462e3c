#include "datasets/edge_list.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace graphmae2::datasets {

graph::CsrGraph build_graph(const std::vector<int64_t>& src, const std::vector<int64_t>& dst, int64_t num_nodes,
                            const EdgeListOptions& opts, const std::string& source) {
  if (src.size() != dst.size()) {
    throw std::runtime_error(source + ": " + std::to_string(src.size()) + " sources but " + std::to_string(dst.size()) +
                             " destinations");
  }
  if (num_nodes < 0) throw std::runtime_error(source + ": negative node count " + std::to_string(num_nodes));
  const size_t m = src.size();
  for (size_t e = 0; e < m; ++e) {
    if (src[e] < 0 || src[e] >= num_nodes || dst[e] < 0 || dst[e] >= num_nodes) {
      throw std::runtime_error(source + ": edge " + std::to_string(e) + " (" + std::to_string(src[e]) + " -> " +
                               std::to_string(dst[e]) + ") has a node id outside [0, " + std::to_string(num_nodes) +
                               ")");
    }
  }
  auto keep = [&](size_t e) { return !(opts.drop_self_loops && src[e] == dst[e]); };
  auto indptr = torch::zeros({num_nodes + 1}, torch::kInt64);
  int64_t* p = indptr.data_ptr<int64_t>();
  for (size_t e = 0; e < m; ++e) {
    if (!keep(e)) continue;
    ++p[dst[e] + 1];
    if (opts.symmetrize) ++p[src[e] + 1];
  }
  for (int64_t v = 0; v < num_nodes; ++v) p[v + 1] += p[v];
  std::vector<int64_t> fill(p, p + num_nodes);
  std::vector<int64_t> idx(static_cast<size_t>(p[num_nodes]));
  for (size_t e = 0; e < m; ++e) {
    if (!keep(e)) continue;
    idx[fill[dst[e]]++] = src[e];
    if (opts.symmetrize) idx[fill[src[e]]++] = dst[e];
  }
  // Sort each row; compact duplicates in place while rewriting indptr.
  int64_t out = 0;
  int64_t row_begin = 0;
  for (int64_t v = 0; v < num_nodes; ++v) {
    const int64_t row_end = p[v + 1];
    std::sort(idx.begin() + row_begin, idx.begin() + row_end);
    const int64_t start = out;
    for (int64_t k = row_begin; k < row_end; ++k) {
      if (opts.deduplicate && out > start && idx[out - 1] == idx[k]) continue;
      idx[out++] = idx[k];
    }
    row_begin = row_end;
    p[v + 1] = out;
  }
  idx.resize(static_cast<size_t>(out));
  auto indices = torch::empty({out}, torch::kInt64);
  std::copy(idx.begin(), idx.end(), indices.data_ptr<int64_t>());
  return graph::CsrGraph(indptr, indices, num_nodes, std::nullopt, /*validate=*/false);
}

}  // namespace graphmae2::datasets
