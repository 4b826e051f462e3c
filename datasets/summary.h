#pragma once
// Size and degree statistics of a NodeDataset (what `graphmae2-data inspect` prints).

#include "datasets/dataset.h"

#include <cstdint>
#include <string>

namespace graphmae2::datasets {

/// @brief Counts and in-degree statistics of a dataset (in-degree = row length of its CsrGraph).
struct DatasetSummary {
  std::string name;
  int64_t nodes = 0, edges = 0, feature_dim = 0, classes = 0;
  int64_t train = 0, val = 0, test = 0;
  int64_t min_in_degree = 0, max_in_degree = 0;
  double mean_in_degree = 0;
  int64_t isolated = 0;  ///< nodes with neither incoming nor outgoing edges
};

/// Returns: the summary of `ds` (O(N + E), no copy of features).
DatasetSummary summarize(const NodeDataset& ds);
/// Returns: the summary as "key: value" lines, one per field.
std::string to_string(const DatasetSummary& s);

}  // namespace graphmae2::datasets
