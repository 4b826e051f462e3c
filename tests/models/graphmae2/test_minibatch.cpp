// Mini-batch GraphMAE2: an lc batch holding the whole graph gives the full-batch losses and gradients; lc
// batches are the reference's (block-diagonal ego-graphs, seeds as targets, drop-edge views); batches depend
// on the step only; ego-graph inference equals one forward per ego-graph.

#include "graph/transforms.h"
#include "datasets/registry.h"
#include "models/graphmae2/minibatch.h"
#include "models/graphmae2/trainer.h"

#include "fixtures/graphmae2_batch.h"
#include "fixtures/graphs.h"
#include "fixtures/paths.h"
#include "fixtures/tiny_dataset.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <set>

namespace graphmae2::models::graphmae2 {
namespace {

graph::CsrGraph prepared_graph(int64_t n, int64_t edges, uint64_t seed) {
  return graph::add_self_loops(graph::remove_self_loops(graph::symmetrize(testing::random_edges(n, n, edges, seed).graph())));
}

/// Ego-graphs given as explicit node lists (seed first).
graph::EgoGraphs egos_of(const std::vector<std::vector<int64_t>>& lists) {
  graph::EgoGraphs e;
  std::vector<int64_t> seeds, indptr{0}, indices;
  for (const auto& l : lists) {
    seeds.push_back(l.front());
    indices.insert(indices.end(), l.begin(), l.end());
    indptr.push_back(static_cast<int64_t>(indices.size()));
  }
  e.seeds = torch::tensor(seeds, torch::kLong);
  e.indptr = torch::tensor(indptr, torch::kLong);
  e.indices = torch::tensor(indices, torch::kLong);
  return e;
}

GraphMAE2 small_model() { return GraphMAE2(GraphMAE2Options(6).num_hidden(8).heads(2)); }

TEST(MiniBatch, OneBatchHoldingTheWholeGraphEqualsTheFullBatchStep) {
  const int64_t n = 40;
  const auto g = prepared_graph(n, 160, 1);
  const auto x = torch::randn({n, 6});
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  const auto egos = egos_of({all});
  const auto owned = make_lc_batch(g, datasets::FeatureStore(x), egos, torch::tensor({int64_t{0}}), 0.0, false,
                                   at::make_generator<at::CPUGeneratorImpl>(0));
  EXPECT_TRUE(owned->batch.graph == g);
  EXPECT_TRUE(torch::equal(owned->batch.features, x));
  EXPECT_TRUE(torch::equal(owned->batch.targets, torch::tensor({int64_t{0}})));

  torch::manual_seed(3);
  auto model = small_model();
  MaskPlan plan;
  plan.mask_nodes = random_subset(n, 0.5, torch::kCPU);
  plan.remask_nodes = {random_subset(n, 0.5, torch::kCPU), random_subset(n, 0.5, torch::kCPU)};
  const auto run = [&](const GraphMAE2Batch& batch) {
    model->zero_grad();
    torch::manual_seed(11);  // the same dropout draws
    auto losses = model->forward(batch, plan, LossOptions{});
    losses.total.backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : model->student_parameters()) grads.push_back(p.grad().clone());
    return std::make_pair(losses.total.detach(), grads);
  };
  const auto [mini_loss, mini_grads] = run(owned->batch);
  const auto [full_loss, full_grads] = run(testing::batch_of(g, x, torch::tensor({int64_t{0}})));
  EXPECT_TRUE(torch::allclose(mini_loss, full_loss, 1e-6, 1e-7));
  ASSERT_EQ(mini_grads.size(), full_grads.size());
  for (size_t i = 0; i < mini_grads.size(); ++i) EXPECT_TRUE(torch::allclose(mini_grads[i], full_grads[i], 1e-5, 1e-6)) << i;
}

TEST(MiniBatch, LcBatchIsBlockDiagonalWithSeedsAsTargets) {
  const auto g = prepared_graph(30, 150, 2);
  const auto x = torch::arange(30, torch::kFloat).unsqueeze(1).repeat({1, 6});
  const auto egos = egos_of({{3, 4, 5, 9}, {7, 3, 1}, {12, 13, 3, 20, 21}});
  const auto owned = make_lc_batch(g, datasets::FeatureStore(x), egos, torch::tensor({int64_t{2}, int64_t{0}}), 0.0, false,
                                   at::make_generator<at::CPUGeneratorImpl>(0));
  const auto& b = owned->batch;
  EXPECT_EQ(b.graph.num_nodes(), 9);
  EXPECT_TRUE(torch::equal(b.targets, torch::tensor({int64_t{0}, int64_t{5}})));
  // Features are the parent rows of the batched nodes, node 3 twice (once per ego-graph).
  EXPECT_TRUE(torch::equal(b.features.select(1, 0), torch::tensor({12.f, 13.f, 3.f, 20.f, 21.f, 3.f, 4.f, 5.f, 9.f})));
  const auto want = graph::batch({graph::induced_subgraph(g, torch::tensor({12, 13, 3, 20, 21}, torch::kLong)),
                                  graph::induced_subgraph(g, torch::tensor({3, 4, 5, 9}, torch::kLong))});
  EXPECT_TRUE(b.graph == want.graph);
  EXPECT_FALSE(b.student_graph.has_value());

  const auto dropped = make_lc_batch(g, datasets::FeatureStore(x), egos, torch::tensor({int64_t{2}, int64_t{0}}), 0.5, true,
                                     at::make_generator<at::CPUGeneratorImpl>(5));
  const auto& d = dropped->batch;
  ASSERT_TRUE(d.student_graph && d.teacher_graph);
  ASSERT_NE(d.sparse, nullptr);
  for (const auto* view : {&*d.student_graph, &*d.teacher_graph}) {
    const auto adj = testing::adjacency(*view), full = testing::adjacency(d.graph);
    for (int64_t v = 0; v < view->num_nodes(); ++v) {
      EXPECT_EQ(std::count(adj[v].begin(), adj[v].end(), v), 1) << "one self-loop per node";
      for (const int64_t u : adj[v]) EXPECT_NE(std::find(full[v].begin(), full[v].end(), u), full[v].end());
    }
  }
  EXPECT_FALSE(*d.student_graph == *d.teacher_graph) << "two independent views";
}

TEST(MiniBatch, BatchesDependOnTheStepOnlyAndCoverEverySeedEachEpoch) {
  const auto g = prepared_graph(50, 200, 3);
  const auto x = torch::randn({50, 6});
  std::vector<std::vector<int64_t>> lists;
  for (int64_t s = 0; s < 23; ++s) lists.push_back({s, (s + 1) % 50, (s + 7) % 50});
  BatchSourceOptions o;
  o.batch_size = 5;
  o.drop_edge_rate = 0.3;
  const BatchSource source(g, datasets::FeatureStore(x), egos_of(lists), o, 9);
  EXPECT_EQ(source.steps_per_epoch(), 5);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::multiset<int64_t> seeds;
    for (int64_t i = 0; i < 5; ++i) {
      const auto b = source.batch(epoch * 5 + i);
      const auto t = b->batch.features.index_select(0, b->batch.targets);
      for (int64_t k = 0; k < b->batch.targets.size(0); ++k) {
        // The seed's feature row identifies it.
        for (int64_t s = 0; s < 23; ++s) {
          if (torch::equal(t[k], x[s])) seeds.insert(s);
        }
      }
    }
    EXPECT_EQ(seeds.size(), 23u);
    EXPECT_EQ(std::set<int64_t>(seeds.begin(), seeds.end()).size(), 23u) << "each seed once per epoch";
  }
  const auto a = source.batch(7), b = source.batch(7);
  EXPECT_TRUE(a->batch.graph == b->batch.graph);
  EXPECT_TRUE(*a->batch.student_graph == *b->batch.student_graph);
  const auto e0 = source.batch(0), e1 = source.batch(5);
  EXPECT_FALSE(e0->batch.features.sizes() == e1->batch.features.sizes() &&
               torch::equal(e0->batch.features, e1->batch.features))
      << "another epoch, another order";
  o.batch_size = 24;
  EXPECT_THROW(BatchSource(g, datasets::FeatureStore(x), egos_of(lists), o, 9), c10::Error);
}

TEST(MiniBatch, EgoInferenceEqualsOneForwardPerEgoGraph) {
  const auto g = prepared_graph(60, 300, 4);
  const auto x = torch::randn({60, 6});
  torch::manual_seed(2);
  auto model = small_model();
  const auto egos = egos_of({{3, 4, 5, 9, 10}, {7, 3, 1}, {12, 13, 3}, {0, 59, 58, 57}});
  const auto emb = embed_ego_graphs(model, g, datasets::FeatureStore(x), egos, 3, false, torch::kCPU);
  ASSERT_EQ(emb.size(0), 4);
  model->eval();
  torch::NoGradGuard no_grad;
  for (int64_t s = 0; s < 4; ++s) {
    const auto nodes = egos.nodes(s);
    const auto sub = graph::induced_subgraph(g, nodes);
    const auto one = model->embed(sub.graph, x.index_select(0, nodes))[0];
    EXPECT_TRUE(torch::allclose(emb[s], one, 1e-5, 1e-6)) << s;
  }
}

TEST(MiniBatch, FineTuneOnEgoGraphsLearnsAndLeavesThePretrainedEncoderAlone) {
  const auto data = testing::tiny_dataset(120, 12, 3, 3, 5);
  const auto g = graph::add_self_loops(graph::remove_self_loops(data.graph));
  graph::LocalClusteringOptions lc;
  lc.ego_size = 8;
  const auto egos = graph::local_clustering(graph::bidirected_with_self_loops(data.graph),
                                            torch::arange(120, torch::kLong), lc);
  torch::manual_seed(6);
  auto model = GraphMAE2(GraphMAE2Options(12).num_hidden(8).heads(2));
  std::vector<torch::Tensor> before;
  for (const auto& p : model->encoder->parameters()) before.push_back(p.detach().clone());
  const datasets::FeatureStore features(data.features);
  eval::ProbeOptions o{0.01, 0.0, 40, 3, 16};
  const auto r = finetune_ego_graphs(model->encoder, g, features, egos, data.labels, 3, data.train_mask, data.val_mask,
                                     data.test_mask, o, torch::kCPU);
  EXPECT_GT(r.test_acc, 0.6) << "well above chance (1/3): the class-block features are separable";
  EXPECT_GE(r.best_epoch, 1);
  const auto after = model->encoder->parameters();
  for (size_t k = 0; k < before.size(); ++k) EXPECT_TRUE(torch::equal(before[k], after[k])) << "parameter " << k;

  // lr 0: nothing changes, so validation never improves after epoch 1 and the best model is the last one.
  o.lr = 0.0;
  const auto frozen = finetune_ego_graphs(model->encoder, g, features, egos, data.labels, 3, data.train_mask,
                                          data.val_mask, data.test_mask, o, torch::kCPU);
  EXPECT_EQ(frozen.best_epoch, 1);
  EXPECT_DOUBLE_EQ(frozen.test_acc, frozen.final_test_acc);

  // Ego-graphs of the train nodes only: the val and test nodes have none.
  const auto train_only = graph::local_clustering(graph::bidirected_with_self_loops(data.graph),
                                                  data.train_mask.nonzero().flatten(), lc);
  EXPECT_THROW(finetune_ego_graphs(model->encoder, g, features, train_only, data.labels, 3, data.train_mask,
                                   data.val_mask, data.test_mask, o, torch::kCPU),
               c10::Error);
}

TEST(MiniBatch, LayerwiseInferenceEqualsTheFullGraphEmbedding) {
  const auto g = prepared_graph(300, 1500, 5);
  const auto x = torch::randn({300, 6});
  torch::manual_seed(4);
  auto model = GraphMAE2(GraphMAE2Options(6).num_hidden(8).heads(2).num_layers(3));
  const auto layerwise = embed_layerwise(model, g, datasets::FeatureStore(x), 64, torch::kCPU);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto full = model->embed(g, x);
  EXPECT_TRUE(torch::allclose(layerwise, full, 1e-5, 1e-6)) << (layerwise - full).abs().max().item<float>();
}

TEST(MiniBatch, LayerwiseInferenceEqualsTheFullGraphEmbeddingOnCora) {
  const auto data = datasets::load_node_dataset("cora", testing::shared_datasets_dir());
  GraphMAE2Config cfg;
  cfg.apply_file(std::string(GRAPHMAE2_SOURCE_DIR) + "/configs/cora.yaml");
  cfg.num_hidden = 64;
  const auto input = prepare_inputs(data, cfg);
  torch::manual_seed(1);
  auto model = build_model(cfg, data.feature_dim());
  const auto layerwise = embed_layerwise(model, input.graph, datasets::FeatureStore(input.features), 500, torch::kCPU);
  const auto full = embed(model, input);
  EXPECT_TRUE(torch::allclose(layerwise, full, 1e-4, 1e-5)) << (layerwise - full).abs().max().item<float>();
}

TEST(MiniBatch, NeighborBatchesAreSampledSubgraphsWithTheSeedsFirst) {
  const auto g = prepared_graph(500, 4000, 6);
  const auto x = torch::arange(500, torch::kFloat).unsqueeze(1).repeat({1, 6});
  BatchSourceOptions o;
  o.sampler = Sampler::neighbor;
  o.batch_size = 32;
  o.fanouts = {4, 3};
  const BatchSource source(g, datasets::FeatureStore(x), std::nullopt, o, 1);
  EXPECT_EQ(source.steps_per_epoch(), 16);
  const auto b = source.batch(3);
  const auto ids = b->batch.features.select(1, 0).to(torch::kLong);  // the parent id of each batch node
  EXPECT_TRUE(torch::equal(b->batch.targets, torch::arange(32, torch::kLong)));
  const auto adj = testing::adjacency(b->batch.graph), parent = testing::adjacency(g);
  int64_t edges = 0;
  for (int64_t v = 0; v < b->batch.graph.num_nodes(); ++v) {
    EXPECT_EQ(std::count(adj[v].begin(), adj[v].end(), v), 1) << "one self-loop per node";
    const int64_t pv = ids[v].item<int64_t>();
    for (const int64_t u : adj[v]) {
      const int64_t pu = ids[u].item<int64_t>();
      EXPECT_NE(std::find(parent[pv].begin(), parent[pv].end(), pu), parent[pv].end()) << pv << " <- " << pu;
      ++edges;
    }
    if (v < 32) EXPECT_LE(static_cast<int64_t>(adj[v].size()), 4 + 3 + 1) << "a seed keeps at most its fan-outs";
  }
  EXPECT_GT(edges, 32);
  o.fanouts = {};
  EXPECT_THROW(BatchSource(g, datasets::FeatureStore(x), std::nullopt, o, 1), c10::Error);
}

}  // namespace
}  // namespace graphmae2::models::graphmae2
