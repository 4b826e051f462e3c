#include "datasets/planetoid.h"

#include "datasets/edge_list.h"
#include "datasets/pickle.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
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
      fail(file, "line " + std::to_string(lineno) + ": expected a non-negative node id, got '" +
                     line.substr(0, 60) + "'");
    }
    ids.push_back(v);
  }
  if (in.bad()) fail(file, "read error after line " + std::to_string(lineno));
  return ids;
}

NodeDataset read_planetoid(const std::filesystem::path& dir, const std::string& name_in,
                           bool row_normalize_features) {
  const std::string name = lower(name_in);
  auto file = [&](const char* part) { return dir / ("ind." + name + "." + part); };
  for (const char* part : {"x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"}) {
    if (!std::filesystem::is_regular_file(file(part))) fail(file(part), "missing Planetoid file");
  }
  const auto x = pickle::read_csr_matrix(file("x"));
  const auto tx = pickle::read_csr_matrix(file("tx"));
  const auto allx = pickle::read_csr_matrix(file("allx"));
  const auto y = label_matrix(file("y"));
  const auto ty = label_matrix(file("ty"));
  const auto ally = label_matrix(file("ally"));
  const auto adjacency = pickle::read_adjacency(file("graph"));
  const auto test_index = read_planetoid_test_index(file("test.index"));

  const int64_t dim = allx.cols;
  const int64_t classes = ally.size(1);
  auto expect = [&](bool ok, const std::filesystem::path& f, const std::string& what) {
    if (!ok) fail(f, what);
  };
  expect(x.cols == dim, file("x"), "has " + std::to_string(x.cols) + " columns, allx has " + std::to_string(dim));
  expect(tx.cols == dim, file("tx"), "has " + std::to_string(tx.cols) + " columns, allx has " + std::to_string(dim));
  expect(y.size(1) == classes && ty.size(1) == classes, file("y"),
         "y/ty/ally disagree on the number of classes (" + std::to_string(y.size(1)) + ", " +
             std::to_string(ty.size(1)) + ", " + std::to_string(classes) + ")");
  expect(x.rows == y.size(0), file("y"),
         "has " + std::to_string(y.size(0)) + " rows, x has " + std::to_string(x.rows));
  expect(allx.rows == ally.size(0), file("ally"),
         "has " + std::to_string(ally.size(0)) + " rows, allx has " + std::to_string(allx.rows));
  expect(tx.rows == ty.size(0) && tx.rows == static_cast<int64_t>(test_index.size()), file("test.index"),
         "has " + std::to_string(test_index.size()) + " ids, tx has " + std::to_string(tx.rows) + " rows, ty " +
             std::to_string(ty.size(0)));
  expect(!test_index.empty(), file("test.index"), "is empty");

  // A declared column count allocates [nodes, columns] floats: accept unused trailing columns (a vocabulary word
  // no document holds) only up to twice the columns the entries use, so a small file cannot claim gigabytes.
  int64_t used_cols = 0;
  for (const auto* m : {&x, &tx, &allx}) {
    if (m->indices.numel() > 0) used_cols = std::max(used_cols, m->indices.max().item<int64_t>() + 1);
  }
  const int64_t max_cols = 2 * used_cols + 1024;
  expect(dim <= max_cols, file("allx"),
         "declares " + std::to_string(dim) + " feature columns but its entries (and x's, tx's) use only " +
             std::to_string(used_cols) + "; more than " + std::to_string(max_cols) +
             " is refused (the dense matrix would hold mostly empty columns)");

  std::vector<int64_t> sorted = test_index;
  std::sort(sorted.begin(), sorted.end());
  for (size_t k = 1; k < sorted.size(); ++k) {
    expect(sorted[k] != sorted[k - 1], file("test.index"), "repeats node id " + std::to_string(sorted[k]));
  }
  // DGL widens tx/ty of CiteSeer to the full id range: ids of that range missing from test.index become
  // zero rows. Other datasets are stacked as they are.
  const int64_t lo = sorted.front();
  const bool widen = name == "citeseer";
  const int64_t test_rows = widen ? sorted.back() - lo + 1 : tx.rows;
  // The widened rows beyond tx's are zero rows that no file backs: a few (CiteSeer's 15 isolated ids) are what
  // DGL reproduces; a span far beyond tx's rows is a damaged or hostile test.index.
  expect(test_rows <= 2 * tx.rows + 64, file("test.index"),
         "ids span " + std::to_string(test_rows) + " nodes (" + std::to_string(lo) + " .. " +
             std::to_string(sorted.back()) + ") for " + std::to_string(tx.rows) +
             " test rows; more than twice the rows is refused");
  const int64_t n = allx.rows + test_rows;
  expect(sorted.back() < n, file("test.index"),
         "node id " + std::to_string(sorted.back()) + " is beyond the " + std::to_string(n) + " nodes");
  expect(x.rows + 500 <= n, file("y"), "leaves fewer than 500 validation nodes");

  // stacked = vstack(allx, tx'), then rows test_index[i] <- stacked rows sorted[i] (DGL's reorder).
  auto stacked = torch::zeros({n, dim}, torch::kFloat32);
  std::vector<int64_t> rows(static_cast<size_t>(std::max(allx.rows, tx.rows)));
  for (int64_t r = 0; r < allx.rows; ++r) rows[r] = r;
  scatter_rows(allx, rows, stacked);
  for (int64_t j = 0; j < tx.rows; ++j) rows[j] = allx.rows + (widen ? sorted[j] - lo : j);
  scatter_rows(tx, rows, stacked);
  auto onehot = torch::zeros({n, classes}, torch::kFloat64);
  onehot.narrow(0, 0, allx.rows).copy_(ally);
  onehot.index_copy_(0, torch::tensor(std::vector<int64_t>(rows.begin(), rows.begin() + tx.rows)), ty);

  auto reorder = torch::tensor(test_index);
  auto sorted_t = torch::tensor(sorted);
  auto features = stacked.clone();
  features.index_copy_(0, reorder, stacked.index_select(0, sorted_t));
  auto onehot_final = onehot.clone();
  onehot_final.index_copy_(0, reorder, onehot.index_select(0, sorted_t));

  NodeDataset ds;
  ds.name = name;
  ds.num_classes = classes;
  // numpy.argmax: the first maximal column (all-zero rows give 0).
  ds.labels = torch::zeros({n}, torch::kInt64);
  {
    auto oh = onehot_final.accessor<double, 2>();
    auto lab = ds.labels.accessor<int64_t, 1>();
    for (int64_t v = 0; v < n; ++v) {
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c) {
        if (oh[v][c] > oh[v][best]) best = c;
      }
      lab[v] = best;
    }
  }
  ds.train_mask = torch::zeros({n}, torch::kBool);
  ds.val_mask = torch::zeros({n}, torch::kBool);
  ds.test_mask = torch::zeros({n}, torch::kBool);
  ds.train_mask.narrow(0, 0, x.rows).fill_(true);
  ds.val_mask.narrow(0, x.rows, 500).fill_(true);
  ds.test_mask.index_fill_(0, sorted_t, true);

  std::vector<int64_t> src, dst;
  for (const auto& [u, nbrs] : adjacency) {
    for (int64_t v : nbrs) {
      src.push_back(u);
      dst.push_back(v);
    }
  }
  ds.graph = build_graph(src, dst, n, EdgeListOptions{.symmetrize = true, .drop_self_loops = true, .deduplicate = true},
                         file("graph").string());
  ds.features = row_normalize_features ? row_normalize(features) : features;
  ds.validate();
  return ds;
}

}  // namespace graphmae2::datasets
