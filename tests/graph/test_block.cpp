// Block (the mini-batch message-flow graph): validation, select_rows against a plain loop, and GAT layers over
// blocks against the full graph (values and gradients).

#include "graph/block.h"
#include "graph/transforms.h"
#include "models/layers/gat.h"
#include "models/layers/gat_conv.h"

#include "fixtures/graphs.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace graphmae2::graph {
namespace {

using models::layers::GAT;
using models::layers::GATConv;
using models::layers::GATConvOptions;
using models::layers::GATOptions;
using testing::adjacency;
using testing::expect_error;

torch::Tensor i64(std::vector<int64_t> v) { return torch::tensor(v, torch::kInt64); }

// 3 destinations over 5 local sources (testing::bipartite_edges), parent ids 10, 11, ...
CsrGraph bipartite() { return testing::bipartite_edges().graph(); }

TEST(Block, ValidConstructionAndAccessors) {
  const Block b(bipartite(), i64({10, 11, 12, 13, 14}), torch::arange(5, torch::kInt64));
  EXPECT_EQ(b.num_dst(), 3);
  EXPECT_EQ(b.num_src(), 5);
  EXPECT_EQ(b.num_edges(), 5);
  EXPECT_TRUE(torch::equal(b.dst_ids(), i64({10, 11, 12})));
  EXPECT_EQ(b.summary(), "Block(3 dst <- 5 src, 5 edges)");
  const auto moved = b.to(torch::kCPU);
  EXPECT_TRUE(moved.graph == b.graph);
  EXPECT_TRUE(torch::equal(moved.src_ids, b.src_ids));
  EXPECT_TRUE(torch::equal(*moved.edge_ids, *b.edge_ids));
}

TEST(Block, ValidationNamesTheBadValue) {
  const auto g = bipartite();
  expect_error([&] { Block(g, i64({10, 11, 12, 13})); }, "src_ids has 4 entries but the graph has 5 source columns");
  expect_error(
      [&] {
        Block(g, i64({10, 11, 12, 13, 11}));
      },
      "node 11 appears twice in src_ids (src_ids[1] and src_ids[4])");
  expect_error([&] { Block(g, i64({10, 11, -3, 13, 14})); }, "src_ids[2] = -3 is negative");
  expect_error([&] { Block(g, torch::zeros({5})); }, "src_ids must be a 1-D int64 tensor");
  expect_error(
      [&] {
        Block(g, i64({10, 11, 12, 13, 14}), i64({0, 1}));
      },
      "edge_ids has 2 entries but the graph has 5 edges");
  expect_error([&] { Block(g, i64({10, 11, 12, 13, 14}), i64({0, 1, 2, -1, 4})); }, "edge_ids[3] = -1 is negative");
  // More destinations than sources: the destinations cannot be a prefix of the sources.
  const CsrGraph wide(i64({0, 1, 1, 2}), i64({0, 1}), 2);
  expect_error([&] { Block(wide, i64({7, 8})); }, "3 destinations but only 2 sources");
  // A local source id out of range.
  const CsrGraph bad(i64({0, 2, 2, 3}), i64({0, 7, 1}), 5, std::nullopt, /*validate=*/false);
  expect_error([&] { Block(bad, i64({10, 11, 12, 13, 14})); }, "indices[1] = 7 is out of range [0, 5)");
  // The unchecked constructor reads nothing.
  EXPECT_NO_THROW(Block(Block::unchecked, bad, i64({10, 11})));
}

TEST(Block, FullBlockOfASquareGraph) {
  const auto g = testing::tiny_edges().graph();
  const auto b = Block::full(g);
  EXPECT_NO_THROW(b.validate());
  EXPECT_TRUE(b.graph == g);
  EXPECT_TRUE(torch::equal(b.src_ids, torch::arange(6, torch::kInt64)));
  EXPECT_TRUE(torch::equal(*b.edge_ids, torch::arange(g.num_edges(), torch::kInt64)));
  expect_error([&] { Block::full(bipartite()); }, "got 3 x 5");
}

// Plain-loop select_rows: sources are the rows, then new neighbours by first appearance in CSR order.
void expect_select_rows_matches_loop(const CsrGraph& g, const std::vector<int64_t>& rows) {
  const auto block = select_rows(g, i64(rows));
  ASSERT_NO_THROW(block.validate());
  const auto adj = adjacency(g);
  const auto ip = g.indptr.contiguous();
  std::vector<int64_t> src = rows, edge_ids;
  std::vector<std::vector<int64_t>> local(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t r = rows[i];
    for (size_t j = 0; j < adj[r].size(); ++j) {
      const int64_t c = adj[r][j];
      auto it = std::find(src.begin(), src.end(), c);
      if (it == src.end()) it = src.insert(src.end(), c);
      local[i].push_back(it - src.begin());
      edge_ids.push_back(ip[r].item<int64_t>() + static_cast<int64_t>(j));
    }
  }
  EXPECT_EQ(adjacency(block.graph), local);
  EXPECT_EQ(block.graph.num_cols, static_cast<int64_t>(src.size()));
  EXPECT_TRUE(torch::equal(block.src_ids, i64(src)));
  EXPECT_TRUE(torch::equal(block.dst_ids(), i64(rows)));
  ASSERT_TRUE(block.edge_ids.has_value());
  EXPECT_TRUE(torch::equal(*block.edge_ids, i64(edge_ids)));
}

TEST(Block, SelectRowsMatchesPlainLoopOnRandomGraphs) {
  for (uint64_t seed : {1, 2, 3}) {
    const auto g = testing::random_edges(40, 40, 300, seed).graph();
    torch::manual_seed(seed);
    const auto perm = torch::randperm(40, torch::kInt64);
    for (int64_t k : {0, 1, 7, 40}) {
      const auto p = perm.narrow(0, 0, k).contiguous();
      expect_select_rows_matches_loop(g, std::vector<int64_t>(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + k));
    }
  }
  // A block's own graph (destinations are its first sources) can be narrowed further.
  expect_select_rows_matches_loop(bipartite(), {2, 0});
  expect_select_rows_matches_loop(testing::tiny_edges().graph(), {5, 3});  // rows without edges
}

TEST(Block, SelectRowsRefusesRepeatsAndWideGraphs) {
  const auto g = testing::random_edges(40, 40, 300, 5).graph();
  expect_error([&] { select_rows(g, i64({4, 9, 1, 9})); }, "row id 9 appears twice (rows[1] and rows[3])");
  expect_error([&] { select_rows(g, i64({-2})); }, "row id -2 is out of range for 40 rows");
  const auto tall = testing::random_edges(6, 4, 10, 5).graph();
  expect_error([&] { select_rows(tall, i64({0})); }, "num_rows <= num_cols, got 6 x 4");
}

TEST(Block, SelectRowEdgesKeepsTheParentsColumnsAndWeights) {
  // Against a plain loop over the parent's rows: row i holds rows[i]'s edges in order, with parent column ids
  // and weights; repeats and rows without edges included, on square and bipartite graphs.
  const auto square = testing::random_edges(40, 40, 300, 6).graph();
  auto weighted = CsrGraph(square.indptr, square.indices, square.num_cols,
                           torch::arange(square.num_edges(), torch::kFloat64) / 7.0);
  const std::vector<std::pair<CsrGraph, std::vector<int64_t>>> cases = {
      {weighted, {3, 17, 3, 0, 39}}, {weighted, {}}, {bipartite(), {2, 0}}, {testing::tiny_edges().graph(), {5, 3, 5}}};
  for (const auto& [g, rows] : cases) {
    const auto sub = select_row_edges(g, i64(rows));
    EXPECT_EQ(sub.num_rows(), static_cast<int64_t>(rows.size()));
    EXPECT_EQ(sub.num_cols, g.num_cols);
    const auto adj = adjacency(g);
    std::vector<std::vector<int64_t>> expected;
    std::vector<double> expected_weights;
    const auto ip = g.indptr.contiguous();
    for (const int64_t r : rows) {
      expected.push_back(adj[r]);
      if (!g.weights) continue;
      for (int64_t e = ip[r].item<int64_t>(); e < ip[r + 1].item<int64_t>(); ++e) {
        expected_weights.push_back((*g.weights)[e].item<double>());
      }
    }
    EXPECT_EQ(adjacency(sub), expected);
    ASSERT_EQ(sub.weights.has_value(), g.weights.has_value());
    if (g.weights) {
      EXPECT_TRUE(torch::equal(*sub.weights, torch::tensor(expected_weights, torch::kFloat64)));
    }
  }
  expect_error(
      [&] {
        select_row_edges(square, i64({1, 40}));
      },
      "select_row_edges: row id 40 is out of range for 40 rows");
}

// Each input's gradient of sum(y * upstream).
std::vector<torch::Tensor> grads(const torch::Tensor& y, const torch::Tensor& upstream,
                                 const std::vector<torch::Tensor>& inputs) {
  return torch::autograd::grad({y}, inputs, {upstream}, /*retain_graph=*/true);
}

struct RoundTrip {
  torch::Dtype dtype;
  double rtol, atol;
};

class BlockRoundTrip : public ::testing::TestWithParam<RoundTrip> {};

TEST_P(BlockRoundTrip, TwoLayerGATOverBlocksEqualsFullGraphAtTheTargets) {
  const auto p = GetParam();
  const auto g = add_self_loops(remove_self_loops(testing::random_edges(60, 60, 400, 9).graph()));
  torch::manual_seed(4);
  GAT gat(GATOptions(5, 4, 3, 2)
              .heads(2)
              .out_heads(2)
              .feat_drop(0)
              .attn_drop(0)
              .residual(true)
              .activation(graphmae2::models::layers::Activation::prelu));
  gat->to(p.dtype);
  gat->eval();
  {
    torch::NoGradGuard ng;
    for (auto& l : *gat->layers) l->as<GATConv>()->bias.uniform_(-0.5, 0.5);
  }
  const auto x = torch::randn({60, 5}, p.dtype).requires_grad_(true);
  const auto targets = i64({17, 3, 42, 8, 55, 0});
  const auto block2 = select_rows(g, targets);
  const auto block1 = select_rows(g, block2.src_ids);
  ASSERT_TRUE(torch::equal(block1.dst_ids(), block2.src_ids));

  const auto y_full = gat->forward(g, x).index_select(0, targets);
  const auto y_blocks = gat->forward_blocks({block1, block2}, x.index_select(0, block1.src_ids));
  ASSERT_EQ(y_blocks.sizes(), y_full.sizes());
  EXPECT_TRUE(torch::allclose(y_blocks, y_full, p.rtol, p.atol)) << (y_blocks - y_full).abs().max();

  const auto upstream = torch::randn_like(y_full);
  std::vector<torch::Tensor> inputs{x};
  for (const auto& param : gat->parameters()) inputs.push_back(param);
  const auto g_full = grads(y_full, upstream, inputs);
  const auto g_blocks = grads(y_blocks, upstream, inputs);
  const auto names = gat->named_parameters().keys();
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_TRUE(torch::allclose(g_blocks[i], g_full[i], p.rtol, p.atol))
        << (i == 0 ? std::string("x") : names[i - 1]) << " differs by " << (g_blocks[i] - g_full[i]).abs().max();
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, BlockRoundTrip,
                         ::testing::Values(RoundTrip{torch::kFloat32, 1e-5, 1e-6},
                                           RoundTrip{torch::kFloat64, 1e-12, 1e-14}));

TEST(Block, GATConvOverASelectRowsBlockGivesTheRowsOfTheFullLayer) {
  const auto g = testing::random_edges(50, 50, 350, 3).graph();
  torch::manual_seed(2);
  GATConv conv(GATConvOptions(6, 4, 3).residual(true).activation(graphmae2::models::layers::Activation::elu));
  conv->eval();
  const auto x = torch::randn({50, 6});
  const auto rows = i64({49, 0, 31, 7, 12});
  const auto block = select_rows(g, rows);
  const auto y_block = conv->forward(block, x.index_select(0, block.src_ids));
  const auto y_full = conv->forward(g, x).index_select(0, rows);
  // Equal up to the last bit or two: torch's vectorised elementwise kernels (elu here) round their vector body
  // and their scalar tail differently, and a row falls in either depending on the tensor's size.
  EXPECT_TRUE(torch::allclose(y_block, y_full, 1e-6, 1e-7)) << (y_block - y_full).abs().max();
  // The full graph is its own block.
  EXPECT_TRUE(torch::equal(conv->forward(Block::full(g), x), conv->forward(g, x)));
}

TEST(Block, BlockLayersCheckTheirInputs) {
  const auto g = testing::random_edges(20, 20, 80, 1).graph();
  GATConv conv(GATConvOptions(4, 3, 2));
  const auto block = select_rows(g, i64({1, 2}));
  expect_error(
      [&] {
        conv->forward(block, torch::randn({block.num_src() + 1, 4}));
      },
      "but the block has " + std::to_string(block.num_src()) + " sources");
  GAT gat(GATOptions(4, 3, 2, 2).heads(2));
  const auto b2 = select_rows(g, i64({5}));
  const auto wrong = select_rows(g, i64({5, 6}));
  ASSERT_NE(b2.num_src(), 2);
  expect_error(
      [&] {
        gat->forward_blocks({wrong, b2}, torch::randn({wrong.num_src(), 4}));
      },
      "layer 1 has " + std::to_string(b2.num_src()) + " sources but layer 0 has 2 destinations");
  expect_error([&] { gat->forward_blocks({b2}, torch::randn({b2.num_src(), 4})); }, "got 1 blocks for 2 layers");
}

}  // namespace
}  // namespace graphmae2::graph
