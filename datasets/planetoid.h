#pragma once
// Planetoid citation datasets (Cora, CiteSeer, PubMed) from the original `ind.<name>.*` files.

#include "datasets/dataset.h"

#include <filesystem>
#include <string>

namespace graphmae2::datasets {

/// Reads `dir/ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}` (name: cora, citeseer, pubmed) exactly as
/// DGL's CitationGraphDataset processes them: nodes are allx rows then the test rows (node test.index[i]
/// gets tx[i]); CiteSeer's missing test ids become zero-feature, label-0 nodes in no mask; the graph is
/// symmetrised, deduplicated, without self-loops (rows sorted); train = first len(y), val = next 500,
/// test = sorted test.index; num_classes = width of the one-hot labels. Features are float32, raw unless
/// `row_normalize_features` (each row divided by its sum, as DGL/GraphMAE2 use).
/// Throws std::runtime_error naming the file (and byte offset or line) on any malformed or inconsistent input.
NodeDataset read_planetoid(const std::filesystem::path& dir, const std::string& name,
                           bool row_normalize_features = false);

/// Reads a Planetoid `ind.<name>.test.index` file. Returns: the node ids in file order (int64).
/// Throws std::runtime_error naming the file and line of any non-integer or negative entry.
std::vector<int64_t> read_planetoid_test_index(const std::filesystem::path& file);

}  // namespace graphmae2::datasets
