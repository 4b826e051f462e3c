#include "graph/sampling/local_clustering.h"

#include "graph/sampling/cpu/local_clustering_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace graphmae2::graph::sampling {

torch::Tensor EgoGraphs::nodes(int64_t s) const {
  TORCH_CHECK(s >= 0 && s < size(), "EgoGraphs::nodes: seed number ", s, " is out of range for ", size(), " seeds");
  const auto* ip = indptr.data_ptr<int64_t>();
  return indices.narrow(0, ip[s], ip[s + 1] - ip[s]).to(torch::kLong);
}

EgoGraphs EgoGraphs::compact() const {
  EgoGraphs out = *this;
  if (indices.scalar_type() == torch::kLong &&
      (indices.numel() == 0 || indices.max().item<int64_t>() <= std::numeric_limits<int32_t>::max())) {
    out.indices = indices.to(torch::kInt);
  }
  return out;
}

EgoGraphs EgoGraphs::select(const torch::Tensor& which) const {
  const auto starts = indptr.index_select(0, which);
  const auto lengths = indptr.index_select(0, which + 1) - starts;
  EgoGraphs out;
  out.seeds = seeds.index_select(0, which);
  out.indptr = torch::cat({torch::zeros({1}, torch::kLong), lengths.cumsum(0)});
  const int64_t total = out.indptr[-1].item<int64_t>();
  // Positions in `indices`: starts[s] + (0 .. lengths[s]) for each chosen ego-graph.
  const auto set_of = torch::repeat_interleave(torch::arange(which.size(0), torch::kLong), lengths, 0, total);
  const auto within = torch::arange(total, torch::kLong) - out.indptr.index_select(0, set_of);
  out.indices = indices.index_select(0, starts.index_select(0, set_of) + within);
  return out;
}

EgoGraphs local_clustering(const CsrGraph& graph, const torch::Tensor& seeds, const LocalClusteringOptions& options) {
  TORCH_CHECK(options.ego_size >= 1, "local_clustering: ego size must be >= 1, got ", options.ego_size);
  TORCH_CHECK(options.alpha > 0 && options.alpha < 1, "local_clustering: alpha must be in (0, 1), got ", options.alpha);
  TORCH_CHECK(options.rho > 0 && std::isfinite(options.rho), "local_clustering: rho must be > 0, got ", options.rho);
  TORCH_CHECK(options.max_push_steps >= 1, "local_clustering: max push steps must be >= 1, got ",
              options.max_push_steps);
  TORCH_CHECK(graph.indptr.defined() && graph.indices.defined(), "local_clustering: the graph is empty (no indptr)");
  TORCH_CHECK(graph.is_square(), "local_clustering: the graph must be square, got ", graph.summary());
  // The push is a sequential queue per seed, thousands of tiny dependent steps: it runs on the CPU only.
  TORCH_CHECK(graph.indptr.is_cpu(), "local_clustering: runs on the CPU; the graph is on ", graph.indptr.device(),
              " (move it with graph.to(torch::kCPU))");
  TORCH_CHECK(seeds.defined() && seeds.dim() == 1, "local_clustering: seeds must be a 1-D tensor, got ",
              seeds.defined() ? seeds.sizes() : c10::IntArrayRef{});
  TORCH_CHECK(seeds.scalar_type() == torch::kLong, "local_clustering: seeds must be int64, got ", seeds.scalar_type());
  TORCH_CHECK(seeds.is_cpu(), "local_clustering: seeds must be on the CPU, got ", seeds.device());
  const auto seeds_c = seeds.contiguous();
  const int64_t* sd = seeds_c.data_ptr<int64_t>();
  for (int64_t s = 0; s < seeds_c.size(0); ++s) {
    TORCH_CHECK(sd[s] >= 0 && sd[s] < graph.num_nodes(), "local_clustering: seed ", sd[s], " (position ", s,
                ") is out of range for a graph of ", graph.num_nodes(), " nodes");
  }
  return cpu::local_clustering(graph.indptr.contiguous(), graph.indices.contiguous(), seeds_c, options).compact();
}

EgoGraphs local_clustering(const CsrGraph& graph, const torch::Tensor& seeds, const LocalClusteringOptions& options,
                           const std::function<void(int64_t)>& on_progress, int64_t chunk_size) {
  TORCH_CHECK(chunk_size >= 1, "local_clustering: chunk size must be >= 1, got ", chunk_size);
  TORCH_CHECK(seeds.defined() && seeds.dim() == 1, "local_clustering: seeds must be a 1-D tensor");
  std::vector<EgoGraphs> parts;
  const int64_t total = seeds.size(0);
  for (int64_t begin = 0; begin < total || parts.empty(); begin += chunk_size) {
    const int64_t len = std::min(chunk_size, total - begin);
    parts.push_back(local_clustering(graph, seeds.narrow(0, begin, len), options));
    if (on_progress) on_progress(begin + len);
  }
  return parts.size() == 1 ? parts.front() : concat(parts);
}

EgoGraphs concat(const std::vector<EgoGraphs>& parts) {
  TORCH_CHECK(!parts.empty(), "concat: no ego-graph lists");
  std::vector<torch::Tensor> seeds, indptr, indices, ppr;
  int64_t offset = 0;
  bool with_ppr = true;
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    seeds.push_back(p.seeds);
    indptr.push_back((i == 0 ? p.indptr : p.indptr.narrow(0, 1, p.indptr.size(0) - 1)) + offset);
    indices.push_back(p.indices);
    if (p.ppr)
      ppr.push_back(*p.ppr);
    else
      with_ppr = false;
    offset += p.indices.size(0);
  }
  EgoGraphs out;
  out.seeds = torch::cat(seeds);
  out.indptr = torch::cat(indptr);
  out.indices = torch::cat(indices);
  if (with_ppr) out.ppr = torch::cat(ppr);
  return out;
}

}  // namespace graphmae2::graph::sampling
