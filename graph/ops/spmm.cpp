#include "graph/ops/spmm.h"

namespace graphmae2::graph {

torch::Tensor spmm(const CsrGraph& graph, const torch::Tensor& edge_weights, const torch::Tensor& x) {
  TORCH_CHECK(edge_weights.defined() && x.defined(), "spmm: edge_weights or x is undefined");
  TORCH_CHECK(edge_weights.dim() == 2, "spmm: edge_weights should be a 2-D [num_edges, H] tensor, got ",
              edge_weights.dim(), "-D");
  TORCH_CHECK(x.dim() == 3, "spmm: x should be a 3-D [num_cols, H, F] tensor, got ", x.dim(), "-D");
  TORCH_CHECK(edge_weights.size(0) == graph.num_edges(), "spmm: edge_weights has ", edge_weights.size(0),
              " rows but the graph has ", graph.num_edges(), " edges");
  TORCH_CHECK(x.size(0) == graph.num_cols, "spmm: x has ", x.size(0), " rows but the graph has ", graph.num_cols,
              " columns");
  TORCH_CHECK(x.size(1) == edge_weights.size(1), "spmm: x has ", x.size(1), " heads but edge_weights has ",
              edge_weights.size(1));
  auto msgs = x.index_select(0, graph.indices) * edge_weights.unsqueeze(-1);
  return torch::zeros({graph.num_rows(), x.size(1), x.size(2)}, x.options()).index_add(0, graph.row_ids(), msgs);
}

}  // namespace graphmae2::graph
