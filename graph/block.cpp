#include "graph/block.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <utility>
#include <vector>

namespace graphmae2::graph {

Block::Block(CsrGraph graph_, torch::Tensor src_ids_, std::optional<torch::Tensor> edge_ids_)
    : graph(std::move(graph_)), src_ids(std::move(src_ids_)), edge_ids(std::move(edge_ids_)) {
  validate();
}

Block::Block(Unchecked, CsrGraph graph_, torch::Tensor src_ids_, std::optional<torch::Tensor> edge_ids_)
    : graph(std::move(graph_)), src_ids(std::move(src_ids_)), edge_ids(std::move(edge_ids_)) {}

Block Block::full(const CsrGraph& graph) {
  TORCH_CHECK(graph.indptr.defined(), "Block::full: the graph is empty (no indptr)");
  TORCH_CHECK(graph.is_square(), "Block::full: the graph must be square, got ", graph.num_rows(), " x ",
              graph.num_cols);
  const auto options = graph.indptr.options();
  return Block(unchecked, graph, torch::arange(graph.num_cols, options), torch::arange(graph.num_edges(), options));
}

void Block::validate() const {
  graph.validate();
  TORCH_CHECK(src_ids.defined(), "Block: src_ids is undefined");
  TORCH_CHECK(src_ids.dim() == 1 && src_ids.scalar_type() == torch::kInt64,
              "Block: src_ids must be a 1-D int64 tensor, got ", src_ids.scalar_type(), " of shape ", src_ids.sizes());
  TORCH_CHECK(src_ids.device() == graph.indptr.device(), "Block: src_ids on ", src_ids.device(), " but the graph on ",
              graph.indptr.device());
  TORCH_CHECK(num_src() == graph.num_cols, "Block: src_ids has ", num_src(), " entries but the graph has ",
              graph.num_cols, " source columns");
  TORCH_CHECK(num_dst() <= num_src(), "Block: ", num_dst(), " destinations but only ", num_src(),
              " sources (the destinations must be the first sources)");
  const auto src = src_ids.to(torch::kCPU).contiguous();
  const int64_t* s = src.data_ptr<int64_t>();
  const int64_t n = src.size(0);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [s](int64_t a, int64_t b) { return s[a] < s[b]; });
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(s[order[i]] >= 0, "Block: src_ids[", order[i], "] = ", s[order[i]], " is negative");
    if (i > 0) {
      TORCH_CHECK(s[order[i]] != s[order[i - 1]], "Block: node ", s[order[i]], " appears twice in src_ids (src_ids[",
                  order[i - 1], "] and src_ids[", order[i], "])");
    }
  }
  if (edge_ids) {
    TORCH_CHECK(edge_ids->defined() && edge_ids->dim() == 1 && edge_ids->scalar_type() == torch::kInt64,
                "Block: edge_ids must be a 1-D int64 tensor, got ",
                edge_ids->defined() ? edge_ids->toString() : "undefined", " of shape ",
                edge_ids->defined() ? edge_ids->sizes() : torch::IntArrayRef{});
    TORCH_CHECK(edge_ids->size(0) == num_edges(), "Block: edge_ids has ", edge_ids->size(0),
                " entries but the graph has ", num_edges(), " edges");
    TORCH_CHECK(edge_ids->device() == graph.indptr.device(), "Block: edge_ids on ", edge_ids->device(),
                " but the graph on ", graph.indptr.device());
    const auto eids = edge_ids->to(torch::kCPU).contiguous();
    const int64_t* e = eids.data_ptr<int64_t>();
    for (int64_t i = 0; i < eids.size(0); ++i) {
      TORCH_CHECK(e[i] >= 0, "Block: edge_ids[", i, "] = ", e[i], " is negative");
    }
  }
}

Block Block::to(const torch::Device& device) const {
  std::optional<torch::Tensor> e;
  if (edge_ids) e = edge_ids->to(device);
  return Block(unchecked, graph.to(device), src_ids.defined() ? src_ids.to(device) : src_ids, e);
}

std::string Block::summary() const {
  std::ostringstream os;
  os << "Block(" << num_dst() << " dst <- " << num_src() << " src, " << num_edges() << " edges)";
  return os.str();
}

}  // namespace graphmae2::graph
