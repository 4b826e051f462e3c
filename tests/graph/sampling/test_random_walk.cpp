// Random walks and GraphSAINT samples: every step follows an edge, dead ends end a walk, steps are uniform
// (chi-square on a star), determinism across thread counts, and the SAINT subgraph equals the subgraph induced
// on the visited nodes.

#include "graph/sampling/random_walk.h"
#include "graph/sampling/saint.h"
#include "graph/transforms.h"

#include "fixtures/chi_square.h"
#include "fixtures/graphs.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace graphmae2::graph::sampling {
namespace {

using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

TEST(RandomWalk, StepsFollowEdgesAndDeadEndsStop) {
  // 0 -> 1 -> 2, 2 has no edges; 3 -> 3.
  const auto g = CsrGraph::from_edges(i64({0, 1, 3}), i64({1, 2, 3}), 4);
  const auto walks = random_walk(g, i64({0, 3, 2}), 4, 1);
  EXPECT_TRUE(torch::equal(
      walks, torch::tensor({0, 1, 2, -1, -1, 3, 3, 3, 3, 3, 2, -1, -1, -1, -1}, torch::kLong).view({3, 5})));
  const auto r = symmetrize(testing::random_edges(500, 500, 3000, 2).graph());
  const auto adj = testing::adjacency(r);
  const auto w = random_walk(r, torch::arange(500, torch::kLong), 8, 7);
  for (int64_t i = 0; i < 500; ++i) {
    for (int64_t t = 1; t <= 8; ++t) {
      const int64_t a = w[i][t - 1].item<int64_t>(), b = w[i][t].item<int64_t>();
      if (a < 0) {
        EXPECT_EQ(b, -1);
        continue;
      }
      if (adj[a].empty())
        EXPECT_EQ(b, -1);
      else
        EXPECT_NE(std::find(adj[a].begin(), adj[a].end(), b), adj[a].end()) << a << " -> " << b << " is no edge";
    }
  }
}

TEST(RandomWalk, StepsAreUniformAndReproducible) {
  const int64_t leaves = 40, walks = 8000;
  std::vector<int64_t> rows, cols;
  for (int64_t i = 1; i <= leaves; ++i) {
    rows.insert(rows.end(), {0, i});
    cols.insert(cols.end(), {i, 0});
  }
  const auto star = CsrGraph::from_edges(i64(rows), i64(cols), leaves + 1);
  const auto w = random_walk(star, torch::zeros({walks}, torch::kLong), 1, 3);
  std::vector<int64_t> hits(leaves, 0);
  for (int64_t i = 0; i < walks; ++i) hits[w[i][1].item<int64_t>() - 1]++;
  EXPECT_LT(testing::chi_square(hits, std::vector<double>(leaves, static_cast<double>(walks) / leaves)),
            testing::chi_square_critical(leaves - 1));
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = random_walk(star, torch::zeros({walks}, torch::kLong), 5, 3);
  at::set_num_threads(std::max(2, threads));
  const auto many = random_walk(star, torch::zeros({walks}, torch::kLong), 5, 3);
  at::set_num_threads(threads);
  EXPECT_TRUE(torch::equal(one, many));
  EXPECT_TRUE(torch::equal(one.narrow(1, 0, 2), w)) << "a longer walk starts with the shorter one";
}

TEST(RandomWalk, BadInputIsRefused) {
  const auto g = testing::path_edges(5).graph();
  expect_error([&] { random_walk(g, i64({0}), 0, 1); }, "walk length must be >= 1, got 0");
  expect_error([&] { random_walk(g, i64({0, 5}), 2, 1); }, "root 5 is out of range");
  expect_error([&] { random_walk(g, torch::tensor({0}, torch::kInt32), 2, 1); }, "int64");
}

TEST(Saint, SampleIsTheSubgraphInducedOnTheVisitedNodes) {
  const auto g = symmetrize(testing::random_edges(3000, 3000, 20000, 4).graph());
  const auto s = saint_random_walk_sample(g, 100, 4, 9);
  const auto walks = random_walk(g, s.roots, 4, 9).flatten();
  std::set<int64_t> visited;
  for (int64_t i = 0; i < walks.size(0); ++i) {
    if (walks[i].item<int64_t>() >= 0) visited.insert(walks[i].item<int64_t>());
  }
  const auto nodes = torch::tensor(std::vector<int64_t>(visited.begin(), visited.end()), torch::kLong);
  EXPECT_TRUE(torch::equal(s.subgraph.node_ids, nodes));
  const auto want = induced_subgraph(g, nodes);
  EXPECT_TRUE(s.subgraph.graph == want.graph);
  EXPECT_TRUE(torch::equal(s.subgraph.edge_ids, want.edge_ids));
  const auto again = saint_random_walk_sample(g, 100, 4, 9);
  EXPECT_TRUE(torch::equal(again.subgraph.node_ids, s.subgraph.node_ids));
  expect_error([&] { saint_random_walk_sample(g, 0, 4, 1); }, "roots must be >= 1, got 0");
  expect_error([&] { saint_random_walk_sample(g, 10, 0, 1); }, "walk length must be >= 1, got 0");
}

}  // namespace
}  // namespace graphmae2::graph::sampling
