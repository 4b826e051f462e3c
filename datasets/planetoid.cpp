#include "datasets/planetoid.h"

#include "datasets/edge_list.h"
#include "datasets/pickle.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <unordered_set>

namespace graphmae2::datasets {
namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

// Writes the rows of a csr matrix into `out` at rows `dest_row[r]` (scipy's toarray sums duplicates).
void scatter_rows(const pickle::CsrMatrix& m, const std::vector<int64_t>& dest_row, torch::Tensor& out) {
  auto data = m.data.to(torch::kFloat32).contiguous();
  const float* d = data.data_ptr<float>();
  const int64_t* p = m.indptr.data_ptr<int64_t>();
  const int64_t* c = m.indices.data_ptr<int64_t>();
  auto acc = out.accessor<float, 2>();
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t e = p[r]; e < p[r + 1]; ++e) acc[dest_row[r]][c[e]] += d[e];
  }
}

torch::Tensor label_matrix(const std::filesystem::path& file) {
  auto t = pickle::read_ndarray(file);
  if (t.dim() != 2) fail(file, "expected a 2-d one-hot label array, got " + std::to_string(t.dim()) + " dims");
  if (t.scalar_type() == torch::kBool) t = t.to(torch::kUInt8);
  return t.to(torch::kFloat64).contiguous();
}

}  // namespace

std::vector<int64_t> read_planetoid_test_index(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) fail(file, "cannot open for reading");
  std::vector<int64_t> ids;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    size_t b = 0, e = line.size();
    while (b < e && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
    int64_t v = -1;
    auto [ptr, ec] = std::from_chars(line.data() + b, line.data() + e, v);
    if (b == e || ec != std::errc() || ptr != line.data() + e || v < 0) {
      fail(file,
           "line " + std::to_string(lineno) + ": expected a non-negative node id, got '" + line.substr(0, 60) + "'");
    }
    ids.push_back(v);
  }
  if (in.bad()) fail(file, "read error after line " + std::to_string(lineno));
  return ids;
}

namespace {

// The eight files of a Planetoid dataset, read and parsed (nothing checked across files yet).
struct PlanetoidFiles {
  std::function<std::filesystem::path(const char*)> file;
  pickle::CsrMatrix x, tx, allx;
  torch::Tensor y, ty, ally;
  pickle::AdjacencyList adjacency;
  std::vector<int64_t> test_index;
};

PlanetoidFiles read_files(const std::filesystem::path& dir, const std::string& name) {
  PlanetoidFiles f;
  f.file = [dir, name](const char* part) { return dir / ("ind." + name + "." + part); };
  for (const char* part : {"x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"}) {
    if (!std::filesystem::is_regular_file(f.file(part))) fail(f.file(part), "missing Planetoid file");
  }
  f.x = pickle::read_csr_matrix(f.file("x"));
  f.tx = pickle::read_csr_matrix(f.file("tx"));
  f.allx = pickle::read_csr_matrix(f.file("allx"));
  f.y = label_matrix(f.file("y"));
  f.ty = label_matrix(f.file("ty"));
  f.ally = label_matrix(f.file("ally"));
  f.adjacency = pickle::read_adjacency(f.file("graph"));
  f.test_index = read_planetoid_test_index(f.file("test.index"));
  return f;
}

void expect(bool ok, const std::filesystem::path& file, const std::string& what) {
  if (!ok) fail(file, what);
}

// The files agree on rows, columns and classes, and declare no more feature columns than their entries justify.
void check_shapes(const PlanetoidFiles& f) {
  const int64_t dim = f.allx.cols;
  const int64_t classes = f.ally.size(1);
  expect(f.x.cols == dim, f.file("x"), "has " + std::to_string(f.x.cols) + " columns, allx has " + std::to_string(dim));
  expect(f.tx.cols == dim, f.file("tx"),
         "has " + std::to_string(f.tx.cols) + " columns, allx has " + std::to_string(dim));
  expect(f.y.size(1) == classes && f.ty.size(1) == classes, f.file("y"),
         "y/ty/ally disagree on the number of classes (" + std::to_string(f.y.size(1)) + ", " +
             std::to_string(f.ty.size(1)) + ", " + std::to_string(classes) + ")");
  expect(f.x.rows == f.y.size(0), f.file("y"),
         "has " + std::to_string(f.y.size(0)) + " rows, x has " + std::to_string(f.x.rows));
  expect(f.allx.rows == f.ally.size(0), f.file("ally"),
         "has " + std::to_string(f.ally.size(0)) + " rows, allx has " + std::to_string(f.allx.rows));
  expect(f.tx.rows == f.ty.size(0) && f.tx.rows == static_cast<int64_t>(f.test_index.size()), f.file("test.index"),
         "has " + std::to_string(f.test_index.size()) + " ids, tx has " + std::to_string(f.tx.rows) + " rows, ty " +
             std::to_string(f.ty.size(0)));
  expect(!f.test_index.empty(), f.file("test.index"), "is empty");
  // A declared column count allocates [nodes, columns] floats: accept unused trailing columns (a vocabulary word
  // no document holds) only up to twice the columns the entries use, so a small file cannot claim gigabytes.
  int64_t used_cols = 0;
  for (const auto* m : {&f.x, &f.tx, &f.allx}) {
    if (m->indices.numel() > 0) used_cols = std::max(used_cols, m->indices.max().item<int64_t>() + 1);
  }
  const int64_t max_cols = 2 * used_cols + 1024;
  expect(dim <= max_cols, f.file("allx"),
         "declares " + std::to_string(dim) + " feature columns but its entries (and x's, tx's) use only " +
             std::to_string(used_cols) + "; more than " + std::to_string(max_cols) +
             " is refused (the dense matrix would hold mostly empty columns)");
}

// Where the test rows go: test.index sorted, and whether tx/ty are widened to the full id range.
struct TestLayout {
  std::vector<int64_t> sorted;
  int64_t lo = 0;
  bool widen = false;
  int64_t rows = 0;   // test rows in the stacked matrix
  int64_t nodes = 0;  // allx rows + test rows
};

TestLayout test_layout(const PlanetoidFiles& f, const std::string& name) {
  TestLayout t;
  t.sorted = f.test_index;
  std::sort(t.sorted.begin(), t.sorted.end());
  for (size_t k = 1; k < t.sorted.size(); ++k) {
    expect(t.sorted[k] != t.sorted[k - 1], f.file("test.index"), "repeats node id " + std::to_string(t.sorted[k]));
  }
  // DGL widens tx/ty of CiteSeer to the full id range: ids of that range missing from test.index become
  // zero rows. Other datasets are stacked as they are.
  t.lo = t.sorted.front();
  t.widen = name == "citeseer";
  t.rows = t.widen ? t.sorted.back() - t.lo + 1 : f.tx.rows;
  // The widened rows beyond tx's are zero rows that no file backs: a few (CiteSeer's isolated ids) are what
  // DGL reproduces; a span far beyond tx's rows is a damaged or hostile test.index.
  expect(t.rows <= 2 * f.tx.rows + 64, f.file("test.index"),
         "ids span " + std::to_string(t.rows) + " nodes (" + std::to_string(t.lo) + " .. " +
             std::to_string(t.sorted.back()) + ") for " + std::to_string(f.tx.rows) +
             " test rows; more than twice the rows is refused");
  t.nodes = f.allx.rows + t.rows;
  expect(t.sorted.back() < t.nodes, f.file("test.index"),
         "node id " + std::to_string(t.sorted.back()) + " is beyond the " + std::to_string(t.nodes) + " nodes");
  expect(f.x.rows + 500 <= t.nodes, f.file("y"), "leaves fewer than 500 validation nodes");
  return t;
}

// stacked = vstack(allx, tx'), then rows test_index[i] <- stacked rows sorted[i] (DGL's reorder); the same for the
// one-hot labels. Returns the features and the one-hot labels.
std::pair<torch::Tensor, torch::Tensor> stacked_features_and_labels(const PlanetoidFiles& f, const TestLayout& t) {
  const int64_t n = t.nodes;
  auto stacked = torch::zeros({n, f.allx.cols}, torch::kFloat32);
  std::vector<int64_t> rows(static_cast<size_t>(std::max(f.allx.rows, f.tx.rows)));
  for (int64_t r = 0; r < f.allx.rows; ++r) rows[r] = r;
  scatter_rows(f.allx, rows, stacked);
  for (int64_t j = 0; j < f.tx.rows; ++j) rows[j] = f.allx.rows + (t.widen ? t.sorted[j] - t.lo : j);
  scatter_rows(f.tx, rows, stacked);
  auto onehot = torch::zeros({n, f.ally.size(1)}, torch::kFloat64);
  onehot.narrow(0, 0, f.allx.rows).copy_(f.ally);
  onehot.index_copy_(0, torch::tensor(std::vector<int64_t>(rows.begin(), rows.begin() + f.tx.rows)), f.ty);

  auto reorder = torch::tensor(f.test_index);
  auto sorted_t = torch::tensor(t.sorted);
  auto features = stacked.clone();
  features.index_copy_(0, reorder, stacked.index_select(0, sorted_t));
  auto onehot_final = onehot.clone();
  onehot_final.index_copy_(0, reorder, onehot.index_select(0, sorted_t));
  return {features, onehot_final};
}

// numpy.argmax: the first maximal column (all-zero rows give 0).
torch::Tensor argmax_labels(const torch::Tensor& onehot) {
  const int64_t n = onehot.size(0), classes = onehot.size(1);
  auto labels = torch::zeros({n}, torch::kInt64);
  auto oh = onehot.accessor<double, 2>();
  auto lab = labels.accessor<int64_t, 1>();
  for (int64_t v = 0; v < n; ++v) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (oh[v][c] > oh[v][best]) best = c;
    }
    lab[v] = best;
  }
  return labels;
}

graph::CsrGraph planetoid_graph(const PlanetoidFiles& f, int64_t n) {
  std::vector<int64_t> src, dst;
  for (const auto& [u, nbrs] : f.adjacency) {
    for (int64_t v : nbrs) {
      src.push_back(u);
      dst.push_back(v);
    }
  }
  return build_graph(src, dst, n, EdgeListOptions{.symmetrize = true, .drop_self_loops = true, .deduplicate = true},
                     f.file("graph").string());
}

}  // namespace

NodeDataset read_planetoid(const std::filesystem::path& dir, const std::string& name_in, bool row_normalize_features) {
  const std::string name = lower(name_in);
  const auto files = read_files(dir, name);
  check_shapes(files);
  const auto layout = test_layout(files, name);
  const int64_t n = layout.nodes;
  auto [features, onehot] = stacked_features_and_labels(files, layout);

  NodeDataset ds;
  ds.name = name;
  ds.num_classes = files.ally.size(1);
  ds.labels = argmax_labels(onehot);
  ds.train_mask = torch::zeros({n}, torch::kBool);
  ds.val_mask = torch::zeros({n}, torch::kBool);
  ds.test_mask = torch::zeros({n}, torch::kBool);
  ds.train_mask.narrow(0, 0, files.x.rows).fill_(true);
  ds.val_mask.narrow(0, files.x.rows, 500).fill_(true);
  ds.test_mask.index_fill_(0, torch::tensor(layout.sorted), true);
  ds.graph = planetoid_graph(files, n);
  ds.features = row_normalize_features ? row_normalize(features) : features;
  ds.validate();
  return ds;
}

}  // namespace graphmae2::datasets
