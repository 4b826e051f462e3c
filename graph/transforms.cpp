#include "graph/transforms.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <unordered_map>
#include <utility>

namespace graphmae2::graph {

namespace {

// The graph's edges as CPU tensors, in CSR order.
struct Coo {
  torch::Tensor rows, cols;
  std::optional<torch::Tensor> weights;
};

Coo to_coo(const CsrGraph& g) {
  TORCH_CHECK(g.indptr.defined(), "graph transform: the graph is empty (no indptr)");
  const auto cpu = g.to(torch::kCPU);
  return {cpu.row_ids(), cpu.indices, cpu.weights};
}

std::optional<torch::Tensor> select(const std::optional<torch::Tensor>& w, const torch::Tensor& idx) {
  if (!w) return std::nullopt;
  return w->index_select(0, idx);
}

void check_square(const CsrGraph& g, const char* op) {
  TORCH_CHECK(g.is_square(), op, ": the graph must be square, got ", g.num_rows(), " x ", g.num_cols);
}

CsrGraph on_device_of(const CsrGraph& result, const CsrGraph& like) {
  return result.indptr.device() == like.indptr.device() ? result : result.to(like.indptr.device());
}

// First occurrence of each (row, col) pair, ordered by (row, col); positions into the given COO.
torch::Tensor first_of_each_pair(const torch::Tensor& rows, const torch::Tensor& cols, int64_t num_rows,
                                 int64_t num_cols) {
  TORCH_CHECK(num_cols == 0 || num_rows <= std::numeric_limits<int64_t>::max() / num_cols, "deduplicate: a ", num_rows,
              " x ", num_cols, " graph is too large for 64-bit (row, col) keys");
  const auto keys = rows * num_cols + cols;
  const auto [sorted, order] = keys.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  if (sorted.numel() == 0) return order;
  auto is_first = torch::ones({sorted.numel()}, torch::kBool);
  is_first.slice(0, 1) = sorted.slice(0, 1) != sorted.slice(0, 0, -1);
  return order.masked_select(is_first);
}

}  // namespace

CsrGraph deduplicate(const CsrGraph& graph) {
  const auto c = to_coo(graph);
  const auto keep = first_of_each_pair(c.rows, c.cols, graph.num_rows(), graph.num_cols);
  return on_device_of(CsrGraph::from_edges(c.rows.index_select(0, keep), c.cols.index_select(0, keep), graph.num_rows(),
                                           graph.num_cols, select(c.weights, keep)),
                      graph);
}

CsrGraph symmetrize(const CsrGraph& graph) {
  check_square(graph, "symmetrize");
  const auto c = to_coo(graph);
  std::optional<torch::Tensor> w;
  if (c.weights) w = torch::cat({*c.weights, *c.weights});
  const auto both = CsrGraph::from_edges(torch::cat({c.rows, c.cols}), torch::cat({c.cols, c.rows}), graph.num_rows(),
                                         graph.num_cols, w);
  return on_device_of(deduplicate(both), graph);
}

CsrGraph bidirected_with_self_loops(const CsrGraph& graph_in) {
  check_square(graph_in, "bidirected_with_self_loops");
  // Linear-memory construction (ogbn-scale graphs): the transpose by a counting sort (its rows come out sorted),
  // then per row the sorted union of the out- and in-neighbours and the node itself, without duplicates.
  const auto graph = graph_in.to(torch::kCPU);
  const int64_t n = graph.num_rows(), m = graph.num_edges();
  const auto ip_t = graph.indptr.contiguous(), ix_t = graph.indices.contiguous();
  const int64_t* ip = ip_t.data_ptr<int64_t>();
  const int64_t* ix = ix_t.data_ptr<int64_t>();
  std::vector<int64_t> in_ptr(static_cast<size_t>(n) + 1, 0), in_ix(static_cast<size_t>(m));
  for (int64_t e = 0; e < m; ++e) ++in_ptr[static_cast<size_t>(ix[e]) + 1];
  for (int64_t v = 0; v < n; ++v) in_ptr[v + 1] += in_ptr[v];
  {
    std::vector<int64_t> fill(in_ptr.begin(), in_ptr.end() - 1);
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t e = ip[r]; e < ip[r + 1]; ++e) in_ix[static_cast<size_t>(fill[ix[e]]++)] = r;
    }
  }
  // Row r's neighbours: out-row (sorted here), in-row (sorted by construction) and r, merged without duplicates.
  const auto merge_row = [&](int64_t r, std::vector<int64_t>& buf, int64_t* out) -> int64_t {
    buf.assign(ix + ip[r], ix + ip[r + 1]);
    std::sort(buf.begin(), buf.end());
    const int64_t self[1] = {r};
    int64_t count = 0, last = -1;
    const auto emit = [&](int64_t c) {
      if (c != last) {
        if (out != nullptr) out[count] = c;
        ++count;
        last = c;
      }
    };
    const int64_t* a = buf.data();
    const int64_t* a_end = a + buf.size();
    const int64_t* b = in_ix.data() + in_ptr[r];
    const int64_t* b_end = in_ix.data() + in_ptr[r + 1];
    const int64_t* c = self;
    const int64_t* c_end = self + 1;
    while (a != a_end || b != b_end || c != c_end) {
      int64_t next = std::numeric_limits<int64_t>::max();
      if (a != a_end) next = std::min(next, *a);
      if (b != b_end) next = std::min(next, *b);
      if (c != c_end) next = std::min(next, *c);
      emit(next);
      while (a != a_end && *a == next) ++a;
      while (b != b_end && *b == next) ++b;
      while (c != c_end && *c == next) ++c;
    }
    return count;
  };
  auto indptr = torch::empty({n + 1}, torch::kInt64);
  int64_t* op = indptr.data_ptr<int64_t>();
  op[0] = 0;
  at::parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    std::vector<int64_t> buf;
    for (int64_t r = b; r < e; ++r) op[r + 1] = merge_row(r, buf, nullptr);
  });
  for (int64_t r = 0; r < n; ++r) op[r + 1] += op[r];
  auto indices = torch::empty({op[n]}, torch::kInt64);
  int64_t* oi = indices.data_ptr<int64_t>();
  at::parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    std::vector<int64_t> buf;
    for (int64_t r = b; r < e; ++r) merge_row(r, buf, oi + op[r]);
  });
  return on_device_of(CsrGraph(indptr, indices, n, std::nullopt, /*validate=*/false), graph_in);
}

CsrGraph remove_self_loops(const CsrGraph& graph) {
  check_square(graph, "remove_self_loops");
  const auto c = to_coo(graph);
  const auto keep = (c.rows != c.cols).nonzero().squeeze(1);
  return on_device_of(CsrGraph::from_edges(c.rows.index_select(0, keep), c.cols.index_select(0, keep), graph.num_rows(),
                                           graph.num_cols, select(c.weights, keep)),
                      graph);
}

CsrGraph add_self_loops(const CsrGraph& graph, double fill) {
  check_square(graph, "add_self_loops");
  const auto c = to_coo(graph);
  const auto loops = torch::arange(graph.num_rows(), torch::kInt64);
  std::optional<torch::Tensor> w;
  if (c.weights) w = torch::cat({*c.weights, torch::full({graph.num_rows()}, fill, c.weights->options())});
  return on_device_of(CsrGraph::from_edges(torch::cat({c.rows, loops}), torch::cat({c.cols, loops}), graph.num_rows(),
                                           graph.num_cols, w),
                      graph);
}

torch::Tensor in_degrees(const CsrGraph& graph) {
  TORCH_CHECK(graph.indptr.defined(), "in_degrees: the graph is empty (no indptr)");
  return graph.indptr.diff();
}

torch::Tensor out_degrees(const CsrGraph& graph) {
  TORCH_CHECK(graph.indptr.defined(), "out_degrees: the graph is empty (no indptr)");
  return torch::bincount(graph.indices, /*weights=*/{}, /*minlength=*/graph.num_cols);
}

namespace {

void check_row_ids(const CsrGraph& graph, const torch::Tensor& rows, const char* op) {
  TORCH_CHECK(rows.defined() && rows.dim() == 1 && rows.scalar_type() == torch::kInt64, op,
              ": rows must be a 1-D int64 tensor, got ", rows.defined() ? rows.toString() : "undefined", " of shape ",
              rows.defined() ? rows.sizes() : torch::IntArrayRef{});
  TORCH_CHECK(graph.indptr.defined(), op, ": the graph is empty (no indptr)");
  TORCH_CHECK(rows.device() == graph.indptr.device(), op, ": rows on ", rows.device(), ", graph on ",
              graph.indptr.device());
  if (rows.numel() > 0) {
    const int64_t lo = rows.min().item<int64_t>(), hi = rows.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < graph.num_rows(), op, ": row id ", lo < 0 ? lo : hi, " is out of range for ",
                graph.num_rows(), " rows");
  }
}

// The indptr of the rows' edges ([k + 1]) and each of those edges' position in the parent ([edges]).
std::pair<torch::Tensor, torch::Tensor> row_edge_ids(const CsrGraph& graph, const torch::Tensor& rows) {
  const int64_t k = rows.numel();
  const auto starts = graph.indptr.index_select(0, rows);
  const auto counts = graph.indptr.index_select(0, rows + 1) - starts;
  auto indptr = indptr_from_counts(counts);
  const int64_t num_edges = k > 0 ? indptr[-1].item<int64_t>() : 0;
  // Edge j is the parent's edge starts[r] + (j - indptr[r]) for its row r.
  const auto shift = torch::repeat_interleave(starts - indptr.narrow(0, 0, k), counts, /*dim=*/0,
                                              /*output_size=*/num_edges);
  return {std::move(indptr), shift + torch::arange(num_edges, graph.indptr.options())};
}

}  // namespace

CsrGraph select_row_edges(const CsrGraph& graph, const torch::Tensor& rows) {
  check_row_ids(graph, rows, "select_row_edges");
  const auto [indptr, edge_ids] = row_edge_ids(graph, rows);
  std::optional<torch::Tensor> weights;
  if (graph.weights) weights = graph.weights->index_select(0, edge_ids);
  return CsrGraph(indptr, graph.indices.index_select(0, edge_ids), graph.num_cols, weights, /*validate=*/false);
}

Block select_rows(const CsrGraph& graph, const torch::Tensor& rows) {
  check_row_ids(graph, rows, "select_rows");
  TORCH_CHECK(graph.num_rows() <= graph.num_cols,
              "select_rows: destinations are sources too, so the graph needs "
              "num_rows <= num_cols, got ",
              graph.num_rows(), " x ", graph.num_cols);
  const int64_t k = rows.numel();
  if (k > 1) {
    const auto sorted = std::get<0>(rows.sort());
    if ((sorted.slice(0, 1) == sorted.slice(0, 0, -1)).any().item<bool>()) {
      const auto cpu = rows.to(torch::kCPU).contiguous();
      const int64_t* p = cpu.data_ptr<int64_t>();
      std::unordered_map<int64_t, int64_t> seen;
      for (int64_t i = 0; i < k; ++i) {
        const auto [it, fresh] = seen.emplace(p[i], i);
        TORCH_CHECK(fresh, "select_rows: row id ", p[i], " appears twice (rows[", it->second, "] and rows[", i,
                    "]); a block's destinations must be distinct");
      }
    }
  }
  const auto [indptr, edge_ids] = row_edge_ids(graph, rows);
  const int64_t num_edges = edge_ids.numel();
  std::optional<torch::Tensor> weights;
  if (graph.weights) weights = graph.weights->index_select(0, edge_ids);

  // Local ids: group equal parent ids of [rows, neighbours] by a stable sort; each group's first position in that
  // list orders the sources, so the (distinct) rows get 0..k-1 and the others follow by first appearance.
  const auto all = torch::cat({rows, graph.indices.index_select(0, edge_ids)});
  const auto [values, perm] = all.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false);
  auto is_first = torch::ones({all.numel()}, all.options().dtype(torch::kBool));
  if (all.numel() > 1) is_first.slice(0, 1) = values.slice(0, 1) != values.slice(0, 0, -1);
  const auto group = is_first.cumsum(0) - 1;  // of each sorted position
  const auto [first_pos, group_order] = perm.masked_select(is_first).sort();
  const int64_t num_src = first_pos.numel();
  const auto src_ids = all.index_select(0, first_pos);
  auto local_of_group = torch::empty({num_src}, all.options());
  local_of_group.index_put_({group_order}, torch::arange(num_src, all.options()));
  auto local = torch::empty_like(all);
  local.index_put_({perm}, local_of_group.index_select(0, group));
  CsrGraph block_graph(indptr, local.narrow(0, k, num_edges), num_src, weights, /*validate=*/false);
  return Block(Block::unchecked, std::move(block_graph), src_ids, edge_ids);
}

Subgraph induced_subgraph(const CsrGraph& graph, const torch::Tensor& nodes_in) {
  check_square(graph, "induced_subgraph");
  TORCH_CHECK(nodes_in.defined() && nodes_in.dim() == 1 && nodes_in.scalar_type() == torch::kInt64,
              "induced_subgraph: nodes must be a 1-D int64 tensor, got ",
              nodes_in.defined() ? nodes_in.toString() : "undefined", " of shape ",
              nodes_in.defined() ? nodes_in.sizes() : torch::IntArrayRef{});
  const auto nodes = nodes_in.to(torch::kCPU).contiguous();
  const int64_t n = graph.num_rows(), k = nodes.size(0);
  // new_id[v] = position of v in `nodes`, or -1.
  std::vector<int64_t> new_id(n, -1);
  const int64_t* p = nodes.data_ptr<int64_t>();
  for (int64_t i = 0; i < k; ++i) {
    TORCH_CHECK(p[i] >= 0 && p[i] < n, "induced_subgraph: nodes[", i, "] = ", p[i], " is out of range [0, ", n, ")");
    TORCH_CHECK(new_id[p[i]] < 0, "induced_subgraph: node ", p[i], " appears twice (nodes[", new_id[p[i]],
                "] and nodes[", i, "])");
    new_id[p[i]] = i;
  }
  const auto c = to_coo(graph);
  const auto map = torch::tensor(new_id, torch::kInt64);
  const auto r = map.index_select(0, c.rows), col = map.index_select(0, c.cols);
  const auto keep = ((r >= 0) & (col >= 0)).nonzero().squeeze(1);
  // The edge positions ride along as weights so they follow from_edges' stable sort.
  const auto relabelled = CsrGraph::from_edges(r.index_select(0, keep), col.index_select(0, keep), k, k, keep);
  std::optional<torch::Tensor> w;
  if (c.weights) w = c.weights->index_select(0, *relabelled.weights);
  CsrGraph sub(relabelled.indptr, relabelled.indices, k, w, /*validate=*/false);
  return {on_device_of(sub, graph), nodes.to(graph.indptr.device()), relabelled.weights->to(graph.indptr.device())};
}

CsrGraph drop_edges(const CsrGraph& graph, double p, std::optional<at::Generator> generator) {
  TORCH_CHECK(p >= 0.0 && p <= 1.0, "drop_edges: p must be in [0, 1], got ", p);
  const auto c = to_coo(graph);
  // rand in [0, 1): kept with probability 1 - p; p = 0 keeps all, p = 1 none.
  const auto keep = (torch::rand({graph.num_edges()}, generator, torch::kDouble) >= p).nonzero().squeeze(1);
  return on_device_of(CsrGraph::from_edges(c.rows.index_select(0, keep), c.cols.index_select(0, keep), graph.num_rows(),
                                           graph.num_cols, select(c.weights, keep)),
                      graph);
}

CsrGraph drop_edges(const CsrGraph& graph, double p, uint64_t seed) {
  return drop_edges(graph, p, at::make_generator<at::CPUGeneratorImpl>(seed));
}

CsrGraph reverse(const CsrGraph& graph) {
  const auto c = to_coo(graph);
  return on_device_of(CsrGraph::from_edges(c.cols, c.rows, graph.num_cols, graph.num_rows(), c.weights), graph);
}

}  // namespace graphmae2::graph
