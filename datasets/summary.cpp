#include "datasets/summary.h"

#include <algorithm>
#include <sstream>
#include <vector>

namespace graphmae2::datasets {

DatasetSummary summarize(const NodeDataset& ds) {
  DatasetSummary s;
  s.name = ds.name;
  s.nodes = ds.num_nodes();
  s.edges = ds.graph.num_edges();
  s.feature_dim = ds.features.defined() ? ds.feature_dim() : 0;
  s.classes = ds.num_classes;
  s.train = ds.train_mask.sum().item<int64_t>();
  s.val = ds.val_mask.sum().item<int64_t>();
  s.test = ds.test_mask.sum().item<int64_t>();
  if (s.nodes == 0) return s;
  auto indptr = ds.graph.indptr.cpu().contiguous();
  auto indices = ds.graph.indices.cpu().contiguous();
  const int64_t* p = indptr.data_ptr<int64_t>();
  const int64_t* c = indices.data_ptr<int64_t>();
  std::vector<char> has_out(static_cast<size_t>(ds.graph.num_cols), 0);
  for (int64_t e = 0; e < s.edges; ++e) has_out[c[e]] = 1;
  s.min_in_degree = p[1] - p[0];
  for (int64_t v = 0; v < s.nodes; ++v) {
    const int64_t d = p[v + 1] - p[v];
    s.min_in_degree = std::min(s.min_in_degree, d);
    s.max_in_degree = std::max(s.max_in_degree, d);
    if (d == 0 && !has_out[v]) ++s.isolated;
  }
  s.mean_in_degree = static_cast<double>(s.edges) / static_cast<double>(s.nodes);
  return s;
}

std::string to_string(const DatasetSummary& s) {
  std::ostringstream os;
  os << "name: " << s.name << "\n"
     << "nodes: " << s.nodes << "\n"
     << "edges: " << s.edges << "\n"
     << "feature dim: " << s.feature_dim << "\n"
     << "classes: " << s.classes << "\n"
     << "train/val/test: " << s.train << " / " << s.val << " / " << s.test << "\n";
  os.setf(std::ios::fixed);
  os.precision(2);
  os << "in-degree: min " << s.min_in_degree << ", mean " << s.mean_in_degree << ", max " << s.max_in_degree << "\n"
     << "isolated nodes: " << s.isolated << "\n";
  return os.str();
}

}  // namespace graphmae2::datasets
