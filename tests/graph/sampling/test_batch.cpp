// Batched graphs: batch() against a hand-built block-diagonal graph, batched_induced_subgraphs against
// batch() of one induced_subgraph per set, and the boundary checks naming set and position.

#include "graph/sampling/batch.h"
#include "graph/transforms.h"

#include "fixtures/graphs.h"

#include <gtest/gtest.h>

#include <vector>

namespace graphmae2::graph::sampling {
namespace {

using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

TEST(Batch, BlockDiagonalByHand) {
  const auto g = testing::tiny_edges().graph();
  const auto a = induced_subgraph(g, i64({4, 0}));
  const auto b = induced_subgraph(g, i64({2, 1, 3}));
  const auto batched = batch({a, b});
  EXPECT_EQ(batched.num_graphs(), 2);
  EXPECT_TRUE(torch::equal(batched.node_offsets, i64({0, 2, 5})));
  EXPECT_TRUE(torch::equal(batched.node_ids, i64({4, 0, 2, 1, 3})));
  // Rows of a, then rows of b shifted by 2 nodes.
  const auto adj = testing::adjacency(batched.graph);
  const auto adj_a = testing::adjacency(a.graph), adj_b = testing::adjacency(b.graph);
  for (size_t r = 0; r < adj_a.size(); ++r) EXPECT_EQ(adj[r], adj_a[r]);
  for (size_t r = 0; r < adj_b.size(); ++r) {
    std::vector<int64_t> shifted;
    for (const int64_t c : adj_b[r]) shifted.push_back(c + 2);
    EXPECT_EQ(adj[r + 2], shifted);
  }
  EXPECT_TRUE(torch::equal(batched.edge_ids, torch::cat({a.edge_ids, b.edge_ids})));
  batched.graph.validate();
  expect_error([&] { batch({}); }, "no graphs");
}

TEST(Batch, BatchedInducedSubgraphsEqualOneAtATime) {
  const auto g = symmetrize(testing::random_edges(400, 400, 4000, 3).graph());
  std::vector<torch::Tensor> sets;
  std::vector<Subgraph> parts;
  std::vector<int64_t> indptr{0};
  for (int64_t s = 0; s < 40; ++s) {
    const auto nodes = torch::randperm(400, torch::kLong).narrow(0, 0, 5 + s * 3);  // a node may be in many sets
    sets.push_back(nodes);
    parts.push_back(induced_subgraph(g, nodes));
    indptr.push_back(indptr.back() + nodes.size(0));
  }
  sets.push_back(torch::empty({0}, torch::kLong));  // an empty set is an empty part
  parts.push_back(induced_subgraph(g, sets.back()));
  indptr.push_back(indptr.back());
  const auto got = batched_induced_subgraphs(g, i64(indptr), torch::cat(sets));
  const auto want = batch(parts);
  EXPECT_TRUE(got.graph == want.graph);
  EXPECT_TRUE(torch::equal(got.node_ids, want.node_ids));
  EXPECT_TRUE(torch::equal(got.edge_ids, want.edge_ids));
  EXPECT_TRUE(torch::equal(got.node_offsets, want.node_offsets));
}

TEST(Batch, BadSetsAreRefusedNamingSetAndPosition) {
  const auto g = testing::path_edges(6).graph();
  expect_error(
      [&] {
        batched_induced_subgraphs(g, i64({0, 2, 4}), i64({0, 1, 2, 9}));
      },
      "set 1 position 1 holds node 9, out of range");
  expect_error(
      [&] {
        batched_induced_subgraphs(g, i64({0, 2, 5}), i64({0, 1, 2, 3, 2}));
      },
      "set 1 holds node 2 twice (positions 0 and 2)");
  expect_error([&] { batched_induced_subgraphs(g, i64({0, 3, 3}), i64({0, 1})); }, "must run from 0 to 2");
  expect_error([&] { batched_induced_subgraphs(g, i64({0, 2, 1, 2}), i64({0, 1})); }, "decreases at set 1");
  // The per-thread maps are clean after a refusal.
  const auto ok = batched_induced_subgraphs(g, i64({0, 3}), i64({2, 1, 3}));
  EXPECT_TRUE(ok.graph == induced_subgraph(g, i64({2, 1, 3})).graph);
}

}  // namespace
}  // namespace graphmae2::graph::sampling
