#include "graph/ops/segment_softmax.h"

namespace graphmae2::graph {

torch::Tensor segment_softmax(const torch::Tensor& scores, const CsrGraph& graph) {
  TORCH_CHECK(scores.defined(), "segment_softmax: scores is undefined");
  TORCH_CHECK(scores.dim() == 2, "segment_softmax: scores should be a 2-D [num_edges, H] tensor, got ",
              scores.dim(), "-D");
  TORCH_CHECK(scores.size(0) == graph.num_edges(), "segment_softmax: scores has ", scores.size(0),
              " rows but the graph has ", graph.num_edges(), " edges");
  TORCH_CHECK(scores.is_floating_point(), "segment_softmax: scores must be floating point, got ",
              scores.scalar_type());
  TORCH_CHECK(scores.device() == graph.indptr.device(), "segment_softmax: scores on ", scores.device(),
              " but graph on ", graph.indptr.device());
  const auto rows = graph.row_ids();
  const auto idx = rows.unsqueeze(1).expand_as(scores);
  // The row max only stabilises exp(); softmax does not depend on it, so it carries no gradient.
  auto max = torch::full({graph.num_rows(), scores.size(1)}, -std::numeric_limits<double>::infinity(),
                         scores.options())
                 .scatter_reduce(0, idx, scores.detach(), "amax", /*include_self=*/true);
  auto e = (scores - max.index_select(0, rows)).exp();
  auto sum = torch::zeros({graph.num_rows(), scores.size(1)}, scores.options()).index_add(0, rows, e);
  return e / sum.index_select(0, rows);
}

}  // namespace graphmae2::graph
