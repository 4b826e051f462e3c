#pragma once
// The in-memory form every dataset reader produces.

#include "graph/csr_graph.h"

#include <string>

namespace graphmae2::datasets {

/// @brief A node-classification dataset: graph, features, labels and split masks, all on the CPU.
///
/// `graph` stores, under each node, the sources of its incoming edges (see CsrGraph). Readers return the
/// graph as the file format defines it (Planetoid: symmetrised and deduplicated, no self-loops); model
/// preprocessing (self-loops, scaling) is applied by the caller.
struct NodeDataset {
  std::string name;
  graph::CsrGraph graph;
  torch::Tensor features;    ///< float32 [num_nodes, feature_dim]
  torch::Tensor labels;      ///< int64 [num_nodes]; nodes without a label hold 0 and are in no mask
  torch::Tensor train_mask;  ///< bool [num_nodes]
  torch::Tensor val_mask;    ///< bool [num_nodes]
  torch::Tensor test_mask;   ///< bool [num_nodes]
  int64_t num_classes = 0;
  /// The normalisation already applied to `features` when the dataset was loaded or its cache written: "" (none),
  /// "row", "standard" or "row+standard". A cache records it (attribute feature_normalization) so that training
  /// does not normalise twice.
  std::string feature_normalization;

  int64_t num_nodes() const { return graph.num_nodes(); }
  int64_t feature_dim() const { return features.size(1); }
  /// Throws c10::Error if shapes, dtypes or masks disagree with each other.
  void validate() const;
};

/// `features` (float32) as float16, refusing values float16 cannot hold (|x| > 65504). Throws
/// std::invalid_argument naming the row (plus `first_row`, for a chunk of a larger matrix), column and value of
/// the first.
torch::Tensor to_float16_checked(const torch::Tensor& features, int64_t first_row = 0);

/// Divides each feature row by its sum; all-zero rows stay zero (as DGL's Planetoid loader does).
torch::Tensor row_normalize(const torch::Tensor& features);
/// Standardises each feature column to zero mean, unit variance (sklearn's StandardScaler).
torch::Tensor standardize(const torch::Tensor& features);

}  // namespace graphmae2::datasets
