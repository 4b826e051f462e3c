#include "graph/csr_graph.h"

#include "fixtures/graphs.h"

#include <gtest/gtest.h>

#include <vector>

namespace graphmae2::graph {
namespace {

using testing::adjacency;
using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

TEST(CsrGraph, FromEdgesGroupsRowsStably) {
  const auto edges = testing::tiny_edges();
  const auto g = edges.graph();
  EXPECT_EQ(g.num_rows(), 6);
  EXPECT_EQ(g.num_cols, 6);
  EXPECT_EQ(g.num_edges(), static_cast<int64_t>(edges.rows.size()));
  // Plain loop: each row's columns in input order.
  std::vector<std::vector<int64_t>> expected(6);
  for (size_t i = 0; i < edges.rows.size(); ++i) expected[edges.rows[i]].push_back(edges.cols[i]);
  EXPECT_EQ(adjacency(g), expected);
  EXPECT_NO_THROW(g.validate());
}

TEST(CsrGraph, FromEdgesCarriesWeightsAndRowIds) {
  const auto e = testing::bipartite_edges();  // rows {0, 2, 0, 2, 2}, cols {4, 0, 1, 1, 3}
  const auto g = CsrGraph::from_edges(i64(e.rows), i64(e.cols), 3, 5, torch::tensor({10., 20., 30., 40., 50.}));
  EXPECT_TRUE(torch::equal(g.indptr, i64({0, 2, 2, 5})));
  EXPECT_TRUE(torch::equal(g.indices, i64({4, 1, 0, 1, 3})));
  ASSERT_TRUE(g.weights.has_value());
  EXPECT_TRUE(torch::equal(*g.weights, torch::tensor({10., 30., 20., 40., 50.})));
  EXPECT_TRUE(torch::equal(g.row_ids(), i64({0, 0, 2, 2, 2})));
  EXPECT_EQ(g.summary(), "CsrGraph(3 x 5, 5 edges, weighted)");
}

TEST(CsrGraph, EmptyGraphs) {
  const auto g = testing::empty_edges(3).graph();
  EXPECT_TRUE(torch::equal(g.indptr, i64({0, 0, 0, 0})));
  EXPECT_EQ(g.num_edges(), 0);
  EXPECT_EQ(g.row_ids().numel(), 0);
  const auto none = CsrGraph::from_edges(i64({}), i64({}), 0, 0);
  EXPECT_EQ(none.num_rows(), 0);
  EXPECT_NO_THROW(none.validate());
}

TEST(CsrGraph, EqualityComparesStructureAndWeights) {
  const auto a = testing::tiny_edges().graph();
  EXPECT_TRUE(a == testing::tiny_edges().graph());
  auto other = testing::tiny_edges();
  other.cols[0] = 1;
  EXPECT_FALSE(a == other.graph());
  const auto w = CsrGraph(a.indptr, a.indices, a.num_cols, torch::ones({a.num_edges()}));
  EXPECT_FALSE(a == w);
}

TEST(CsrGraph, ValidationNamesTheBadValue) {
  expect_error([] { CsrGraph(i64({1, 2}), i64({0, 0}), 2); }, "indptr[0] must be 0, got 1");
  expect_error([] { CsrGraph(i64({0, 2, 1, 3}), i64({0, 0, 0}), 2); }, "indptr[1] = 2 > indptr[2] = 1");
  expect_error([] { CsrGraph(i64({0, 1, 2}), i64({0, 0, 1}), 2); }, "indptr[-1] = 2 but indices has 3 entries");
  expect_error([] { CsrGraph(i64({0, 1, 2}), i64({0, 5}), 2); }, "indices[1] = 5 is out of range [0, 2)");
  expect_error([] { CsrGraph(i64({0, 1, 2}), i64({-3, 0}), 2); }, "indices[0] = -3 is out of range");
  expect_error([] { CsrGraph(torch::tensor({0, 1}, torch::kInt32), i64({0}), 2); }, "indptr must be int64, got Int");
  expect_error([] { CsrGraph(i64({0, 1}), i64({0}).view({1, 1}), 2); }, "indices must be 1-D, got 2-D");
  expect_error([] { CsrGraph(i64({}), i64({}), 0); }, "at least one entry");
  expect_error([] { CsrGraph(i64({0, 1}), i64({0}), -1); }, "num_cols must be >= 0, got -1");
  expect_error([] { CsrGraph(i64({0, 1}), i64({0}), 2, torch::ones({2})); }, "weights has shape [2], expected [1]");
}

TEST(CsrGraph, FromEdgesRejectsBadEdges) {
  expect_error(
      [] {
        CsrGraph::from_edges(i64({0, 1, 7}), i64({0, 0, 0}), 3, 3);
      },
      "edge 2 has row id 7 out of range [0, 3)");
  expect_error(
      [] {
        CsrGraph::from_edges(i64({0, 1}), i64({0, -1}), 3, 3);
      },
      "edge 1 has column id -1 out of range [0, 3)");
  expect_error([] { CsrGraph::from_edges(i64({0, 1, 2}), i64({0, 1}), 3, 3); }, "rows has 3 entries but cols has 2");
  expect_error([] { CsrGraph::from_edges(i64({0}), i64({0}), 1, 1, torch::ones({3})); },
               "weights has shape [3], expected [1]");
  expect_error([] { CsrGraph::from_edges(i64({0}), i64({0}), -2, 1); }, "negative size -2 x 1");
}

}  // namespace
}  // namespace graphmae2::graph
