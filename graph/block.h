#pragma once
// Block: the bipartite message-flow graph of one mini-batch layer (DGL's block convention).

#include "graph/csr_graph.h"

#include <torch/torch.h>

#include <cstdint>
#include <optional>
#include <string>

namespace graphmae2::graph {

/// @brief One layer's bipartite message-flow graph: destinations (rows) read from local sources (columns),
/// and the destinations are the first num_dst sources.
///
/// `graph` has one row per destination; its `indices` are LOCAL source ids in [0, num_src) and
/// `graph.num_cols == num_src`. Local source s is the parent's node `src_ids[s]`; the first num_dst entries of
/// `src_ids` are the destinations, so a layer reads the destinations' own features as the first num_dst rows of
/// its input (residuals, attn_r). Blocks chain: layer l's sources are layer l-1's destinations.
///
/// Host copies: only the validating constructor and validate() read device data on the host; the other
/// members only launch device work (or none).
struct Block {
  CsrGraph graph;                         ///< rows = destinations, indices = local source ids
  torch::Tensor src_ids;                  ///< int64 [num_src], distinct parent ids; destinations first
  std::optional<torch::Tensor> edge_ids;  ///< int64 [num_edges]: position of each edge in the parent's CSR

  /// Tag of the non-validating constructor.
  struct Unchecked {};
  static constexpr Unchecked unchecked{};

  Block() = default;
  /// Validates (see validate(); copies indptr, indices, src_ids and edge_ids to the host).
  Block(CsrGraph graph, torch::Tensor src_ids, std::optional<torch::Tensor> edge_ids = std::nullopt);
  /// Does not validate and reads nothing: for blocks built on the device by code that guarantees the
  /// invariants (select_rows, samplers), where a check would cost a device-host copy.
  Block(Unchecked, CsrGraph graph, torch::Tensor src_ids, std::optional<torch::Tensor> edge_ids = std::nullopt);

  /// The block of a whole square graph: every node is a destination and a source (src_ids = edge_ids = arange).
  /// Throws unless the graph is square. Copies nothing to the host.
  static Block full(const CsrGraph& graph);

  int64_t num_dst() const { return graph.num_rows(); }
  int64_t num_src() const { return src_ids.defined() ? src_ids.size(0) : 0; }
  int64_t num_edges() const { return graph.num_edges(); }
  /// Returns: int64 [num_dst], the parent ids of the destinations (a view of src_ids' prefix).
  torch::Tensor dst_ids() const { return src_ids.narrow(0, 0, num_dst()); }

  /// Checks every invariant (the graph's, src_ids int64 [graph.num_cols], num_dst <= num_src, distinct
  /// non-negative src_ids, edge_ids int64 [num_edges] non-negative); throws c10::Error naming the first bad value.
  /// Copies the block to the host.
  void validate() const;
  /// Returns: the same block on `device` (every tensor moved; no validation).
  Block to(const torch::Device& device) const;
  std::string summary() const;  ///< e.g. "Block(90 dst <- 245 src, 812 edges)"
};

}  // namespace graphmae2::graph
