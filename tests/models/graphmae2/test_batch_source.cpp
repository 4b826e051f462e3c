// Mini-batch GraphMAE2's batches: an lc batch holding the whole graph gives the full-batch losses and gradients;
// lc batches are the reference's (block-diagonal ego-graphs, seeds as targets, drop-edge views); every sampler's
// batch depends on (seed, step) only, through the one StepBatches interface.

#include "graph/sampling/batch.h"
#include "graph/transforms.h"
#include "models/graphmae2/batch_source.h"
#include "models/graphmae2/trainer.h"

#include "fixtures/ego_graphs.h"
#include "fixtures/graphmae2_batch.h"
#include "fixtures/graphs.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <set>

namespace graphmae2::models::graphmae2 {
namespace {

using testing::egos_of;
using testing::prepared_graph;

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
  for (size_t i = 0; i < mini_grads.size(); ++i) {
    EXPECT_TRUE(torch::allclose(mini_grads[i], full_grads[i], 1e-5, 1e-6)) << i;
  }
}

TEST(MiniBatch, LcBatchIsBlockDiagonalWithSeedsAsTargets) {
  const auto g = prepared_graph(30, 150, 2);
  const auto x = torch::arange(30, torch::kFloat).unsqueeze(1).repeat({1, 6});
  const auto egos = egos_of({{3, 4, 5, 9}, {7, 3, 1}, {12, 13, 3, 20, 21}});
  const auto which = torch::tensor({int64_t{2}, int64_t{0}});
  const auto owned =
      make_lc_batch(g, datasets::FeatureStore(x), egos, which, 0.0, false, at::make_generator<at::CPUGeneratorImpl>(0));
  const auto& b = owned->batch;
  EXPECT_EQ(b.graph.num_nodes(), 9);
  EXPECT_TRUE(torch::equal(b.targets, torch::tensor({int64_t{0}, int64_t{5}})));
  // Features are the parent rows of the batched nodes, node 3 twice (once per ego-graph).
  EXPECT_TRUE(torch::equal(b.features.select(1, 0), torch::tensor({12.f, 13.f, 3.f, 20.f, 21.f, 3.f, 4.f, 5.f, 9.f})));
  const auto first = torch::tensor({12, 13, 3, 20, 21}, torch::kLong),
             second = torch::tensor({3, 4, 5, 9}, torch::kLong);
  const auto want = graph::sampling::batch({graph::induced_subgraph(g, first), graph::induced_subgraph(g, second)});
  EXPECT_TRUE(b.graph == want.graph);
  EXPECT_FALSE(b.student_graph.has_value());

  const auto dropped =
      make_lc_batch(g, datasets::FeatureStore(x), egos, which, 0.5, true, at::make_generator<at::CPUGeneratorImpl>(5));
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

TEST(MiniBatch, EverySamplerDrawsTheBatchOfAStepFromTheSeedAndTheStepOnly) {
  const auto g = prepared_graph(200, 1000, 7);
  const auto x = torch::randn({200, 5});
  std::vector<std::vector<int64_t>> lists;
  for (int64_t s = 0; s < 40; ++s) lists.push_back({s, s + 40, s + 80});
  const auto same = [](const OwnedBatch& a, const OwnedBatch& b) {
    return a.batch.graph == b.batch.graph && a.batch.student() == b.batch.student() &&
           a.batch.teacher() == b.batch.teacher() && torch::equal(a.batch.features, b.batch.features) &&
           torch::equal(a.batch.targets, b.batch.targets);
  };
  for (const auto sampler : {Sampler::lc, Sampler::neighbor, Sampler::saint}) {
    BatchSourceOptions o;
    o.sampler = sampler;
    o.batch_size = 16;
    o.fanouts = {3, 2};
    o.drop_edge_rate = 0.3;
    const auto first = make_step_batches(g, datasets::FeatureStore(x), egos_of(lists), o, 5);
    const BatchSource second(g, datasets::FeatureStore(x), egos_of(lists), o, 5);
    const auto other_seed = make_step_batches(g, datasets::FeatureStore(x), egos_of(lists), o, 6);
    const StepBatches& a = *first;
    const StepBatches& b = second;
    EXPECT_EQ(a.feature_dim(), 5);
    EXPECT_EQ(a.steps_per_epoch(), b.steps_per_epoch());
    const int64_t last = 2 * a.steps_per_epoch() + 1;
    const auto a_last = a.batch(last), a_0 = a.batch(0), a_1 = a.batch(1);
    // The other source builds the same steps in another order, after a step the first one never drew.
    b.batch(last + 3);
    EXPECT_TRUE(same(*b.batch(1), *a_1)) << static_cast<int>(sampler);
    EXPECT_TRUE(same(*b.batch(0), *a_0)) << static_cast<int>(sampler);
    EXPECT_TRUE(same(*b.batch(last), *a_last)) << static_cast<int>(sampler);
    EXPECT_FALSE(same(*other_seed->batch(0), *a_0)) << "another seed, another batch: " << static_cast<int>(sampler);
  }
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
