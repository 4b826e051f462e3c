// Neighbour sampling by properties: sampled edges exist, counts are min(fan-out, degree), no duplicates,
// determinism across thread counts, uniform (chi-square) subsets and marginals, weighted draws, multi-layer
// chaining, and the boundary checks. The per-node draws are the code a CUDA thread runs (graph/sampling/common.h).

#include "graph/sampling/neighbor_sample.h"
#include "graph/sampling/common.h"
#include "graph/transforms.h"

#include "fixtures/chi_square.h"
#include "fixtures/graphs.h"

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <vector>

namespace graphmae2::graph::sampling {
namespace {

using testing::adjacency;
using testing::chi_square;
using testing::chi_square_critical;
using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

std::vector<int64_t> vec(const torch::Tensor& t) {
  const auto c = t.to(torch::kCPU).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

/// A star: node 0's row lists nodes 1..leaves; every leaf's row lists node 0.
CsrGraph star(int64_t leaves) {
  std::vector<int64_t> rows, cols;
  for (int64_t i = 1; i <= leaves; ++i) {
    rows.insert(rows.end(), {0, i});
    cols.insert(cols.end(), {i, 0});
  }
  return CsrGraph::from_edges(i64(rows), i64(cols), leaves + 1);
}

CsrGraph random_graph(int64_t n, int64_t edges, uint64_t seed) {
  return symmetrize(testing::random_edges(n, n, edges, seed).graph());
}

/// Checks every property of one sampled hop against the parent graph with plain loops.
void expect_valid_hop(const CsrGraph& g, const torch::Tensor& dst, int64_t fanout, const Block& b) {
  b.validate();
  const auto adj = adjacency(g);
  const auto parent_ip = vec(g.indptr), parent_ix = vec(g.indices);
  const auto ip = vec(b.graph.indptr), local = vec(b.graph.indices), src = vec(b.src_ids), eid = vec(*b.edge_ids);
  const auto d = vec(dst);
  ASSERT_EQ(b.num_dst(), static_cast<int64_t>(d.size()));
  for (size_t i = 0; i < d.size(); ++i) EXPECT_EQ(src[i], d[i]) << "destinations come first";
  EXPECT_EQ(std::set<int64_t>(src.begin(), src.end()).size(), src.size()) << "sources are distinct";
  for (size_t i = 0; i < d.size(); ++i) {
    const int64_t degree = static_cast<int64_t>(adj[d[i]].size());
    const int64_t want = fanout < 0 ? degree : std::min(fanout, degree);
    EXPECT_EQ(ip[i + 1] - ip[i], want) << "node " << d[i];
    std::set<int64_t> seen;
    for (int64_t e = ip[i]; e < ip[i + 1]; ++e) {
      EXPECT_GE(eid[e], parent_ip[d[i]]);
      EXPECT_LT(eid[e], parent_ip[d[i] + 1]) << "edge " << eid[e] << " is not in row " << d[i];
      EXPECT_EQ(parent_ix[eid[e]], src[local[e]]) << "the source is the parent edge's";
      EXPECT_TRUE(seen.insert(eid[e]).second) << "edge " << eid[e] << " sampled twice";
      if (e > ip[i]) EXPECT_LT(eid[e - 1], eid[e]) << "edges keep the parent's order";
    }
  }
  // Every source beyond the destinations is used by some edge, and they appear in first-use order.
  int64_t next_new = static_cast<int64_t>(d.size());
  for (const int64_t l : local) {
    if (l >= static_cast<int64_t>(d.size())) {
      EXPECT_LE(l, next_new);
      if (l == next_new) ++next_new;
    }
  }
  EXPECT_EQ(next_new, b.num_src());
}

TEST(NeighborSample, PropertiesOnARandomGraph) {
  const auto g = random_graph(300, 3000, 1);
  const auto dst = i64({5, 17, 0, 299, 120, 64, 33});
  for (const int64_t fanout : {0, 1, 3, 10, 40, -1}) {
    SCOPED_TRACE(fanout);
    expect_valid_hop(g, dst, fanout, sample_neighbors(g, dst, fanout, 7));
  }
}

TEST(NeighborSample, AllNeighboursEqualSelectRows) {
  const auto g = random_graph(100, 700, 2);
  const auto rows = i64({9, 3, 50, 77});
  const auto a = sample_neighbors(g, rows, -1, 123);
  const auto b = select_rows(g, rows);
  EXPECT_TRUE(a.graph == b.graph);
  EXPECT_TRUE(torch::equal(a.src_ids, b.src_ids));
  EXPECT_TRUE(torch::equal(*a.edge_ids, *b.edge_ids));
}

TEST(NeighborSample, SameSeedSameSampleWhateverTheThreadCount) {
  const auto g = random_graph(5000, 100000, 3);
  const auto dst = torch::randperm(5000, torch::kLong).narrow(0, 0, 3000);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const auto one = sample_neighbors(g, dst, 5, 42);
  at::set_num_threads(std::max(2, threads));
  const auto many = sample_neighbors(g, dst, 5, 42);
  at::set_num_threads(threads);
  EXPECT_TRUE(one.graph == many.graph);
  EXPECT_TRUE(torch::equal(one.src_ids, many.src_ids));
  const auto other = sample_neighbors(g, dst, 5, 43);
  EXPECT_FALSE(torch::equal(*one.edge_ids, *other.edge_ids)) << "another seed, another sample";
  // A node's draw depends on (seed, stream, node), not on its position in the batch.
  const auto alone = sample_neighbors(g, dst.narrow(0, 10, 1), 5, 42);
  const auto ip = vec(one.graph.indptr), eid = vec(*one.edge_ids);
  EXPECT_EQ(vec(*alone.edge_ids), std::vector<int64_t>(eid.begin() + ip[10], eid.begin() + ip[11]));
}

// Every k-subset equally likely, on both code paths (Floyd for k^2 <= 4d, the reservoir otherwise).
TEST(NeighborSample, SubsetsAreUniform) {
  for (const auto& [degree, k] : std::vector<std::pair<int64_t, int64_t>>{{7, 2}, {6, 5}, {8, 6}}) {
    SCOPED_TRACE(std::to_string(degree) + " choose " + std::to_string(k));
    std::map<std::vector<int64_t>, int64_t> counts;
    const int64_t trials = 60000;
    std::vector<int64_t> out(static_cast<size_t>(k));
    for (int64_t t = 0; t < trials; ++t) {
      sampling::RandomStream rng(99, 0, static_cast<uint64_t>(t));
      ASSERT_EQ(sampling::sample_positions_uniform(rng, degree, k, out.data()), k);
      counts[out]++;
    }
    int64_t subsets = 1;
    for (int64_t i = 0; i < k; ++i) subsets = subsets * (degree - i) / (i + 1);
    ASSERT_EQ(static_cast<int64_t>(counts.size()), subsets) << "every subset occurs";
    std::vector<int64_t> observed;
    for (const auto& [subset, c] : counts) observed.push_back(c);
    const std::vector<double> expected(observed.size(), static_cast<double>(trials) / subsets);
    EXPECT_LT(chi_square(observed, expected), chi_square_critical(subsets - 1));
  }
}

TEST(NeighborSample, StarCentreSamplesLeavesUniformly) {
  for (const int64_t fanout : {5, 40}) {  // 5 of 50: Floyd; 40 of 50: the reservoir
    SCOPED_TRACE(fanout);
    const int64_t leaves = 50, trials = 4000;
    const auto g = star(leaves);
    std::vector<int64_t> hits(leaves, 0);
    for (int64_t t = 0; t < trials; ++t) {
      const auto b = sample_neighbors(g, i64({0}), fanout, static_cast<uint64_t>(t));
      for (const int64_t l : vec(b.graph.indices)) hits[vec(b.src_ids)[l] - 1]++;
    }
    const std::vector<double> expected(leaves, static_cast<double>(trials) * fanout / leaves);
    EXPECT_LT(chi_square(hits, expected), chi_square_critical(leaves - 1));
  }
}

TEST(NeighborSample, RandomGraphMarginalsAreUniform) {
  // Pooled over the nodes of a random graph: each neighbour's hit count against trials * k / degree.
  const auto g = random_graph(60, 600, 4);
  const auto adj = adjacency(g);
  const int64_t trials = 3000, fanout = 4;
  const auto dst = torch::arange(60, torch::kLong);
  std::vector<std::map<int64_t, int64_t>> hits(60);
  for (int64_t t = 0; t < trials; ++t) {
    const auto b = sample_neighbors(g, dst, fanout, 1000 + static_cast<uint64_t>(t));
    const auto ip = vec(b.graph.indptr), eid = vec(*b.edge_ids);
    for (int64_t i = 0; i < 60; ++i) {
      for (int64_t e = ip[i]; e < ip[i + 1]; ++e) hits[i][eid[e]]++;
    }
  }
  std::vector<int64_t> observed;
  std::vector<double> expected;
  const auto parent_ip = vec(g.indptr);
  for (int64_t v = 0; v < 60; ++v) {
    const auto degree = static_cast<int64_t>(adj[v].size());
    if (degree <= fanout) continue;  // all kept: no randomness
    for (int64_t e = parent_ip[v]; e < parent_ip[v + 1]; ++e) {
      observed.push_back(hits[v][e]);
      expected.push_back(static_cast<double>(trials) * fanout / degree);
    }
  }
  ASSERT_GT(observed.size(), 100u);
  // Within a node the counts sum to trials * k, so each node loses one degree of freedom.
  int64_t nodes = 0;
  for (int64_t v = 0; v < 60; ++v) nodes += static_cast<int64_t>(adj[v].size()) > fanout;
  EXPECT_LT(chi_square(observed, expected), chi_square_critical(static_cast<int64_t>(observed.size()) - nodes));
}

TEST(NeighborSample, WeightedDrawsFollowTheWeights) {
  // Node 0 has 4 edges with weights 1, 2, 3, 0: one draw picks edge e with probability w_e / 6; weight 0 never.
  const auto g0 = CsrGraph::from_edges(i64({0, 0, 0, 0, 1, 2, 3, 4}), i64({1, 2, 3, 4, 0, 0, 0, 0}), 5);
  const CsrGraph g(g0.indptr, g0.indices, 5, torch::tensor({1.f, 2.f, 3.f, 0.f, 1.f, 1.f, 1.f, 1.f}));
  NeighborSampleOptions weighted;
  weighted.weighted = true;
  std::vector<int64_t> hits(4, 0);
  const int64_t trials = 6000;
  for (int64_t t = 0; t < trials; ++t) {
    const auto b = sample_neighbors(g, i64({0}), 1, static_cast<uint64_t>(t), 0, weighted);
    hits[vec(*b.edge_ids)[0]]++;
  }
  EXPECT_EQ(hits[3], 0) << "a weight-0 edge is never drawn";
  EXPECT_LT(chi_square({hits[0], hits[1], hits[2]}, {trials / 6.0, trials * 2 / 6.0, trials * 3 / 6.0}),
            chi_square_critical(2) * 1.1);
  // All edges of positive weight when the fan-out exceeds them; none of weight 0.
  const auto all = sample_neighbors(g, i64({0}), 10, 5, 0, weighted);
  EXPECT_EQ(vec(*all.edge_ids), (std::vector<int64_t>{0, 1, 2}));
  expect_error([&] { sample_neighbors(g0, i64({0}), 1, 0, 0, weighted); }, "edge weights");
  const CsrGraph negative(g0.indptr, g0.indices, 5, torch::tensor({1.f, -2.f, 3.f, 0.f, 1.f, 1.f, 1.f, 1.f}));
  expect_error([&] { sample_neighbors(negative, i64({0}), 1, 0, 0, weighted); }, "edge 1 has weight -2");
}

TEST(NeighborSample, BlocksChainFromSeedsToInputs) {
  const auto g = random_graph(2000, 20000, 5);
  const auto seeds = i64({4, 8, 15, 16, 23, 42});
  const auto s = sample_blocks(g, seeds, {15, 10, 5}, 11);
  ASSERT_EQ(s.blocks.size(), 3u);
  EXPECT_TRUE(torch::equal(s.blocks[2].dst_ids(), seeds));
  EXPECT_TRUE(torch::equal(s.blocks[1].dst_ids(), s.blocks[2].src_ids));
  EXPECT_TRUE(torch::equal(s.blocks[0].dst_ids(), s.blocks[1].src_ids));
  EXPECT_TRUE(torch::equal(s.input_nodes, s.blocks[0].src_ids));
  expect_valid_hop(g, seeds, 5, s.blocks[2]);  // the output layer uses the last fan-out
  expect_valid_hop(g, s.blocks[1].dst_ids(), 10, s.blocks[1]);
  expect_valid_hop(g, s.blocks[0].dst_ids(), 15, s.blocks[0]);
}

TEST(NeighborSample, BadInputIsRefusedNamingTheValue) {
  const auto g = random_graph(10, 30, 6);
  expect_error([&] { sample_neighbors(g, i64({1}), -2, 0); }, "got -2");
  expect_error([&] { sample_neighbors(g, i64({1, 10}), 3, 0); }, "destination node 10 is out of range");
  expect_error([&] { sample_neighbors(g, i64({-1}), 3, 0); }, "destination node -1");
  expect_error([&] { sample_neighbors(g, i64({3, 4, 3}), 3, 0); }, "destination node 3 is repeated");
  expect_error([&] { sample_neighbors(g, torch::tensor({1, 2}, torch::kInt32), 3, 0); }, "must be int64");
  expect_error([&] { sample_blocks(g, i64({1}), {}, 0); }, "fan-out list is empty");
  const auto bipartite = testing::bipartite_edges().graph();
  expect_error([&] { sample_neighbors(bipartite, i64({0}), 3, 0); }, "must be square");
  // After a refused call the per-thread map is clean: the next sample is still right.
  expect_valid_hop(g, i64({3, 4}), 2, sample_neighbors(g, i64({3, 4}), 2, 0));
}

TEST(NeighborSample, EmptyInputsGiveEmptyBlocks) {
  const auto g = random_graph(10, 30, 7);
  const auto b = sample_neighbors(g, torch::empty({0}, torch::kLong), 3, 0);
  EXPECT_EQ(b.num_dst(), 0);
  EXPECT_EQ(b.num_src(), 0);
  EXPECT_EQ(b.num_edges(), 0);
  const auto isolated = CsrGraph::from_edges(i64({0}), i64({1}), 3);
  const auto c = sample_neighbors(isolated, i64({2, 0}), 3, 0);
  EXPECT_EQ(vec(c.graph.indptr), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(vec(c.src_ids), (std::vector<int64_t>{2, 0, 1}));
}

}  // namespace
}  // namespace graphmae2::graph::sampling
