#include "graph/transforms.h"

#include "datasets/planetoid.h"
#include "fixtures/graphs.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>
#include <vector>

namespace graphmae2::graph {
namespace {

using Adjacency = std::vector<std::vector<int64_t>>;
using testing::adjacency;
using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

// tiny graph with weight = 1 + input position of the edge, so each result's weights tell which edge they are.
CsrGraph weighted_tiny() {
  const auto e = testing::tiny_edges();
  return CsrGraph::from_edges(i64(e.rows), i64(e.cols), e.num_rows, e.num_cols,
                              torch::arange(1, static_cast<int64_t>(e.rows.size()) + 1, torch::kDouble));
}

// Weights of the graph grouped like adjacency().
std::vector<std::vector<double>> weight_lists(const CsrGraph& g) {
  const auto ip = g.indptr.contiguous();
  const auto w = g.weights->contiguous();
  std::vector<std::vector<double>> out(g.num_rows());
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t e = ip[r].item<int64_t>(); e < ip[r + 1].item<int64_t>(); ++e) out[r].push_back(w[e].item<double>());
  }
  return out;
}

TEST(Transforms, DeduplicateMatchesLoop) {
  const auto g = weighted_tiny();
  const auto adj = adjacency(g);
  const auto wl = weight_lists(g);
  Adjacency expected(g.num_rows());
  std::vector<std::vector<double>> expected_w(g.num_rows());
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    std::vector<std::pair<int64_t, double>> seen;  // (col, weight of first occurrence)
    for (size_t i = 0; i < adj[r].size(); ++i) {
      const auto same = [&](const auto& p) { return p.first == adj[r][i]; };
      if (std::none_of(seen.begin(), seen.end(), same)) seen.emplace_back(adj[r][i], wl[r][i]);
    }
    std::sort(seen.begin(), seen.end());
    for (const auto& [c, w] : seen) {
      expected[r].push_back(c);
      expected_w[r].push_back(w);
    }
  }
  const auto d = deduplicate(g);
  EXPECT_EQ(adjacency(d), expected);
  EXPECT_EQ(weight_lists(d), expected_w);
  EXPECT_EQ(d.num_edges(), g.num_edges() - 1);  // the tiny graph has one duplicate (1 -> 2)
  EXPECT_NO_THROW(d.validate());
}

TEST(Transforms, SymmetrizeMatchesLoop) {
  const auto g = testing::tiny_edges().graph();
  const auto adj = adjacency(g);
  std::vector<std::set<int64_t>> pairs(g.num_rows());
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t c : adj[r]) {
      pairs[r].insert(c);
      pairs[c].insert(r);
    }
  }
  Adjacency expected;
  for (const auto& s : pairs) expected.emplace_back(s.begin(), s.end());
  const auto s = symmetrize(g);
  EXPECT_EQ(adjacency(s), expected);
  EXPECT_TRUE(symmetrize(s) == s);
  EXPECT_TRUE(torch::equal(in_degrees(s), out_degrees(s)));
  // Weights: an original edge keeps its own; a reverse-only pair takes its original edge's weight.
  const auto sw = symmetrize(weighted_tiny());
  const auto w = weight_lists(sw);
  const auto sa = adjacency(sw);
  const auto orig = weighted_tiny();
  const auto oa = adjacency(orig);
  const auto ow = weight_lists(orig);
  for (int64_t r = 0; r < sw.num_rows(); ++r) {
    for (size_t i = 0; i < sa[r].size(); ++i) {
      const int64_t c = sa[r][i];
      auto it = std::find(oa[r].begin(), oa[r].end(), c);
      const double want = it != oa[r].end() ? ow[r][it - oa[r].begin()]
                                            : ow[c][std::find(oa[c].begin(), oa[c].end(), r) - oa[c].begin()];
      EXPECT_EQ(w[r][i], want) << "edge " << r << " -> " << c;
    }
  }
}

TEST(Transforms, SelfLoops) {
  const auto g = weighted_tiny();
  const auto adj = adjacency(g);
  Adjacency without(g.num_rows()), with(g.num_rows());
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t c : adj[r]) {
      if (c != r) without[r].push_back(c);
      with[r].push_back(c);
    }
    with[r].push_back(r);
  }
  const auto removed = remove_self_loops(g);
  EXPECT_EQ(adjacency(removed), without);
  EXPECT_EQ(removed.num_edges(), g.num_edges() - 1);  // node 0's loop
  const auto added = add_self_loops(g, 0.5);
  EXPECT_EQ(adjacency(added), with);
  const auto w = weight_lists(added);
  for (int64_t r = 0; r < g.num_rows(); ++r) EXPECT_EQ(w[r].back(), 0.5) << "row " << r;
  // GraphMAE2's preprocessing: exactly one loop per node.
  const auto once = add_self_loops(remove_self_loops(g));
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    const auto row = adjacency(once)[r];
    EXPECT_EQ(std::count(row.begin(), row.end(), r), 1) << "row " << r;
  }
}

TEST(Transforms, Degrees) {
  const auto e = testing::bipartite_edges();
  const auto g = e.graph();
  std::vector<int64_t> in(g.num_rows()), out(g.num_cols);
  for (size_t i = 0; i < e.rows.size(); ++i) {
    ++in[e.rows[i]];
    ++out[e.cols[i]];
  }
  EXPECT_TRUE(torch::equal(in_degrees(g), i64(in)));
  EXPECT_TRUE(torch::equal(out_degrees(g), i64(out)));
  const auto empty = testing::empty_edges(3).graph();
  EXPECT_TRUE(torch::equal(out_degrees(empty), i64({0, 0, 0})));
}

TEST(Transforms, InducedSubgraphMatchesLoop) {
  const auto g = weighted_tiny();
  const std::vector<int64_t> nodes = {4, 0, 2};
  const auto sub = induced_subgraph(g, i64(nodes));
  const auto adj = adjacency(g);
  Adjacency expected(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (int64_t c : adj[nodes[i]]) {
      const auto it = std::find(nodes.begin(), nodes.end(), c);
      if (it != nodes.end()) expected[i].push_back(it - nodes.begin());
    }
  }
  EXPECT_EQ(adjacency(sub.graph), expected);
  EXPECT_TRUE(torch::equal(sub.node_ids, i64(nodes)));
  // Each edge id points at the parent edge it came from: same endpoints, same weight.
  const auto rows = g.row_ids();
  const auto sub_rows = sub.graph.row_ids();
  ASSERT_EQ(sub.edge_ids.numel(), sub.graph.num_edges());
  for (int64_t e = 0; e < sub.graph.num_edges(); ++e) {
    const int64_t pe = sub.edge_ids[e].item<int64_t>();
    EXPECT_EQ(rows[pe].item<int64_t>(), nodes[sub_rows[e].item<int64_t>()]);
    EXPECT_EQ(g.indices[pe].item<int64_t>(), nodes[sub.graph.indices[e].item<int64_t>()]);
    EXPECT_EQ((*g.weights)[pe].item<double>(), (*sub.graph.weights)[e].item<double>());
  }
  EXPECT_EQ(induced_subgraph(g, i64({})).graph.num_nodes(), 0);
  expect_error([&] { induced_subgraph(g, i64({1, 6})); }, "nodes[1] = 6 is out of range [0, 6)");
  expect_error([&] { induced_subgraph(g, i64({-1})); }, "nodes[0] = -1 is out of range");
  expect_error([&] { induced_subgraph(g, i64({2, 3, 2})); }, "node 2 appears twice (nodes[0] and nodes[2])");
  expect_error([&] { induced_subgraph(g, torch::zeros({2})); }, "nodes must be a 1-D int64 tensor");
}

TEST(Transforms, SelectRowsMatchesLoop) {
  const auto g = weighted_tiny();
  const std::vector<int64_t> rows = {3, 1, 4, 0};  // order kept
  const auto block = select_rows(g, i64(rows));
  EXPECT_NO_THROW(block.validate());
  const auto adj = adjacency(g);
  // Sources: the rows, then the other neighbours by first appearance; rows keep their parent's edge order.
  std::vector<int64_t> src = rows;
  Adjacency expected;
  for (int64_t r : rows) {
    expected.emplace_back();
    for (int64_t c : adj[r]) {
      auto it = std::find(src.begin(), src.end(), c);
      if (it == src.end()) it = src.insert(src.end(), c);
      expected.back().push_back(it - src.begin());
    }
  }
  EXPECT_EQ(adjacency(block.graph), expected);
  EXPECT_EQ(block.src_ids.numel(), static_cast<int64_t>(src.size()));
  EXPECT_TRUE(torch::equal(block.src_ids, i64(src)));
  EXPECT_EQ(block.graph.num_cols, block.num_src());
  EXPECT_TRUE(torch::equal(block.dst_ids(), i64(rows)));
  ASSERT_TRUE(block.edge_ids.has_value());
  ASSERT_EQ(block.edge_ids->numel(), block.num_edges());
  const auto parent_rows = g.row_ids();
  const auto sub_rows = block.graph.row_ids();
  for (int64_t e = 0; e < block.num_edges(); ++e) {
    const int64_t pe = (*block.edge_ids)[e].item<int64_t>();
    EXPECT_EQ(parent_rows[pe].item<int64_t>(), rows[sub_rows[e].item<int64_t>()]);
    EXPECT_EQ(g.indices[pe].item<int64_t>(), src[block.graph.indices[e].item<int64_t>()]);
    EXPECT_EQ((*g.weights)[pe].item<double>(), (*block.graph.weights)[e].item<double>());
  }
  const auto none = select_rows(g, i64({}));
  EXPECT_EQ(none.num_edges(), 0);
  EXPECT_EQ(none.num_src(), 0);
  expect_error([&] { select_rows(g, i64({1, 6})); }, "row id 6 is out of range for 6 rows");
  expect_error([&] { select_rows(g, i64({3, 0, 3, 5})); }, "row id 3 appears twice (rows[0] and rows[2])");
  expect_error([&] { select_rows(g, torch::zeros({2})); }, "rows must be a 1-D int64 tensor");
}

TEST(Transforms, DropEdges) {
  const auto g = testing::random_edges(500, 500, 20000, 1).graph();
  EXPECT_TRUE(drop_edges(g, 0.0, 7) == g);
  EXPECT_EQ(drop_edges(g, 1.0, 7).num_edges(), 0);
  const auto a = drop_edges(g, 0.3, 7);
  EXPECT_TRUE(a == drop_edges(g, 0.3, 7));   // same seed, same sample
  EXPECT_FALSE(a == drop_edges(g, 0.3, 8));  // another seed, another sample
  // Binomial(20000, 0.7): mean 14000, sd 65.
  EXPECT_NEAR(static_cast<double>(a.num_edges()), 14000.0, 6 * 65.0);
  // Each row keeps a subsequence of its edges, in order.
  const auto full = adjacency(g), kept = adjacency(a);
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    auto it = full[r].begin();
    for (int64_t c : kept[r]) {
      it = std::find(it, full[r].end(), c);
      ASSERT_NE(it, full[r].end()) << "row " << r << " kept an edge to " << c << " out of order or not present";
      ++it;
    }
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  EXPECT_TRUE(drop_edges(g, 0.5, gen) == drop_edges(g, 0.5, uint64_t{3}));
  expect_error([&] { drop_edges(g, 1.5, 1); }, "p must be in [0, 1], got 1.5");
  expect_error([&] { drop_edges(g, -0.1, 1); }, "got -0.1");
}

TEST(Transforms, ReverseMatchesLoop) {
  const auto e = testing::bipartite_edges();
  const auto g = e.graph();
  const auto adj = adjacency(g);
  Adjacency expected(g.num_cols);
  for (int64_t r = 0; r < g.num_rows(); ++r) {
    for (int64_t c : adj[r]) expected[c].push_back(r);
  }
  const auto t = reverse(g);
  EXPECT_EQ(t.num_rows(), 5);
  EXPECT_EQ(t.num_cols, 3);
  EXPECT_EQ(adjacency(t), expected);
  const auto sorted = deduplicate(testing::tiny_edges().graph());  // rows sorted: reversing twice is identity
  EXPECT_TRUE(reverse(reverse(sorted)) == sorted);
  const auto wt = reverse(weighted_tiny());
  EXPECT_DOUBLE_EQ(wt.weights->sum().item<double>(), weighted_tiny().weights->sum().item<double>());
}

TEST(Transforms, RejectNonSquareGraphs) {
  const auto g = testing::bipartite_edges().graph();
  expect_error([&] { symmetrize(g); }, "symmetrize: the graph must be square, got 3 x 5");
  expect_error([&] { remove_self_loops(g); }, "got 3 x 5");
  expect_error([&] { add_self_loops(g); }, "got 3 x 5");
  expect_error([&] { induced_subgraph(g, i64({0})); }, "got 3 x 5");
}

TEST(Transforms, OnCora) {
  const auto dir = graphmae2::testing::shared_datasets_dir() / "planetoid";
  if (!std::filesystem::exists(dir / "ind.cora.graph")) GTEST_SKIP() << "no Cora at " << dir;
  const auto cora = datasets::read_planetoid(dir, "cora").graph;
  ASSERT_EQ(cora.num_edges(), 10556);  // datasets README: symmetrised, deduplicated, no self-loops
  EXPECT_TRUE(symmetrize(cora) == cora);
  EXPECT_TRUE(deduplicate(cora) == cora);
  EXPECT_TRUE(reverse(cora) == cora);
  EXPECT_TRUE(remove_self_loops(cora) == cora);
  EXPECT_EQ(add_self_loops(cora).num_edges(), 10556 + 2708);
  EXPECT_TRUE(torch::equal(in_degrees(cora), out_degrees(cora)));
  const auto dropped = drop_edges(cora, 0.5, 1);
  EXPECT_NEAR(static_cast<double>(dropped.num_edges()), 5278.0, 6 * 51.4);
  // Dropping breaks symmetry, symmetrize restores a symmetric graph that is a subgraph of Cora.
  const auto resym = symmetrize(dropped);
  EXPECT_TRUE(reverse(resym) == resym);
  EXPECT_LE(resym.num_edges(), 10556);
  const auto sub = induced_subgraph(cora, torch::arange(100, torch::kInt64));
  EXPECT_TRUE(symmetrize(sub.graph) == sub.graph);
}

}  // namespace
}  // namespace graphmae2::graph
