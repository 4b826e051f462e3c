#include "graph/csr_graph.h"

#include <boost/graph/compressed_sparse_row_graph.hpp>

#include <algorithm>
#include <sstream>
#include <utility>
#include <vector>

namespace graphmae2::graph {

namespace {

void check_index_tensor(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.defined(), "CsrGraph: ", name, " is undefined");
  TORCH_CHECK(t.dim() == 1, "CsrGraph: ", name, " must be 1-D, got ", t.dim(), "-D");
  TORCH_CHECK(t.scalar_type() == torch::kInt64, "CsrGraph: ", name, " must be int64, got ", t.scalar_type());
}

}  // namespace

CsrGraph::CsrGraph(torch::Tensor indptr_, torch::Tensor indices_, int64_t num_cols_,
                   std::optional<torch::Tensor> weights_, bool validate_now)
    : indptr(std::move(indptr_)), indices(std::move(indices_)), weights(std::move(weights_)), num_cols(num_cols_) {
  if (validate_now) validate();
}

void CsrGraph::validate() const {
  check_index_tensor(indptr, "indptr");
  check_index_tensor(indices, "indices");
  TORCH_CHECK(indptr.size(0) >= 1, "CsrGraph: indptr must have at least one entry (num_rows + 1), got 0");
  TORCH_CHECK(num_cols >= 0, "CsrGraph: num_cols must be >= 0, got ", num_cols);
  TORCH_CHECK(indptr.device() == indices.device(), "CsrGraph: indptr on ", indptr.device(), " but indices on ",
              indices.device());
  auto ip = indptr.to(torch::kCPU).contiguous();
  auto ix = indices.to(torch::kCPU).contiguous();
  const int64_t* p = ip.data_ptr<int64_t>();
  const int64_t rows = ip.size(0) - 1;
  TORCH_CHECK(p[0] == 0, "CsrGraph: indptr[0] must be 0, got ", p[0]);
  for (int64_t r = 0; r < rows; ++r) {
    TORCH_CHECK(p[r + 1] >= p[r], "CsrGraph: indptr is not non-decreasing: indptr[", r, "] = ", p[r], " > indptr[",
                r + 1, "] = ", p[r + 1]);
  }
  TORCH_CHECK(p[rows] == ix.size(0), "CsrGraph: indptr[-1] = ", p[rows], " but indices has ", ix.size(0), " entries");
  const int64_t* c = ix.data_ptr<int64_t>();
  for (int64_t e = 0; e < ix.size(0); ++e) {
    TORCH_CHECK(c[e] >= 0 && c[e] < num_cols, "CsrGraph: indices[", e, "] = ", c[e], " is out of range [0, ", num_cols,
                ")");
  }
  if (weights) {
    TORCH_CHECK(weights->dim() == 1 && weights->size(0) == ix.size(0), "CsrGraph: weights has shape ", weights->sizes(),
                ", expected [", ix.size(0), "]");
  }
}

torch::Tensor CsrGraph::row_ids() const {
  auto counts = indptr.diff();
  // output_size spares a device sync on CUDA; the third positional argument would be dim.
  return torch::repeat_interleave(torch::arange(num_rows(), indptr.options()), counts, /*dim=*/0,
                                  /*output_size=*/num_edges());
}

torch::Tensor indptr_from_counts(const torch::Tensor& counts) {
  auto indptr = torch::zeros({counts.size(0) + 1}, counts.options().dtype(torch::kInt64));
  indptr.narrow(0, 1, counts.size(0)).copy_(counts.cumsum(0));
  return indptr;
}

CsrGraph CsrGraph::to(const torch::Device& device) const {
  std::optional<torch::Tensor> w;
  if (weights) w = weights->to(device);
  return CsrGraph(indptr.to(device), indices.to(device), num_cols, w, /*validate=*/false);
}

CsrGraph CsrGraph::from_edges(const torch::Tensor& rows_in, const torch::Tensor& cols_in, int64_t num_rows,
                              int64_t num_cols, std::optional<torch::Tensor> weights) {
  check_index_tensor(rows_in, "rows");
  check_index_tensor(cols_in, "cols");
  TORCH_CHECK(rows_in.size(0) == cols_in.size(0), "CsrGraph::from_edges: rows has ", rows_in.size(0),
              " entries but cols has ", cols_in.size(0));
  TORCH_CHECK(num_rows >= 0 && num_cols >= 0, "CsrGraph::from_edges: negative size ", num_rows, " x ", num_cols);
  auto rows = rows_in.to(torch::kCPU).contiguous();
  auto cols = cols_in.to(torch::kCPU).contiguous();
  const int64_t m = rows.size(0);
  const int64_t* r = rows.data_ptr<int64_t>();
  const int64_t* c = cols.data_ptr<int64_t>();
  for (int64_t e = 0; e < m; ++e) {
    TORCH_CHECK(r[e] >= 0 && r[e] < num_rows, "CsrGraph::from_edges: edge ", e, " has row id ", r[e],
                " out of range [0, ", num_rows, ")");
    TORCH_CHECK(c[e] >= 0 && c[e] < num_cols, "CsrGraph::from_edges: edge ", e, " has column id ", c[e],
                " out of range [0, ", num_cols, ")");
  }
  if (weights) {
    TORCH_CHECK(weights->dim() == 1 && weights->size(0) == m, "CsrGraph::from_edges: weights has shape ",
                weights->sizes(), ", expected [", m, "]");
  }

  // The edge's input position rides along as its property, so weights follow the (stable) counting sort.
  using BoostCsr = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, int64_t, boost::no_property,
                                                      uint64_t, uint64_t>;
  std::vector<std::pair<uint64_t, uint64_t>> edges(m);
  std::vector<int64_t> edge_ids(m);
  for (int64_t e = 0; e < m; ++e) {
    edges[e] = {static_cast<uint64_t>(r[e]), static_cast<uint64_t>(c[e])};
    edge_ids[e] = e;
  }
  const uint64_t num_vertices = static_cast<uint64_t>(std::max(num_rows, num_cols));
  BoostCsr g(boost::edges_are_unsorted_multi_pass, edges.begin(), edges.end(), edge_ids.begin(), num_vertices);

  auto indptr = torch::empty({num_rows + 1}, torch::kInt64);
  auto indices = torch::empty({m}, torch::kInt64);
  auto order = torch::empty({m}, torch::kInt64);
  int64_t* ip = indptr.data_ptr<int64_t>();
  int64_t* ix = indices.data_ptr<int64_t>();
  int64_t* ord = order.data_ptr<int64_t>();
  for (int64_t v = 0; v <= num_rows; ++v) ip[v] = static_cast<int64_t>(g.m_forward.m_rowstart[v]);
  int64_t pos = 0;
  for (int64_t v = 0; v < num_rows; ++v) {
    for (auto [it, end] = boost::out_edges(static_cast<uint64_t>(v), g); it != end; ++it, ++pos) {
      ix[pos] = static_cast<int64_t>(boost::target(*it, g));
      ord[pos] = g[*it];
    }
  }
  std::optional<torch::Tensor> w;
  if (weights) w = weights->to(torch::kCPU).index_select(0, order);
  return CsrGraph(indptr, indices, num_cols, w, /*validate=*/false);
}

std::string CsrGraph::summary() const {
  std::ostringstream os;
  os << "CsrGraph(" << num_rows() << " x " << num_cols << ", " << num_edges() << " edges"
     << (weights ? ", weighted" : "") << ")";
  return os.str();
}

bool operator==(const CsrGraph& a, const CsrGraph& b) {
  if (a.num_rows() != b.num_rows() || a.num_cols != b.num_cols || a.num_edges() != b.num_edges()) return false;
  if (a.weights.has_value() != b.weights.has_value()) return false;
  if (!torch::equal(a.indptr.cpu(), b.indptr.cpu()) || !torch::equal(a.indices.cpu(), b.indices.cpu())) return false;
  return !a.weights || torch::equal(a.weights->cpu(), b.weights->cpu());
}

}  // namespace graphmae2::graph
