// Mini-batch inference: ego-graph inference equals one forward per ego-graph; layer-wise inference equals the
// full-graph embedding.

#include "datasets/registry.h"
#include "graph/transforms.h"
#include "models/graphmae2/inference.h"
#include "models/graphmae2/trainer.h"

#include "fixtures/ego_graphs.h"
#include "fixtures/paths.h"

#include <gtest/gtest.h>

namespace graphmae2::models::graphmae2 {
namespace {

using testing::egos_of;
using testing::prepared_graph;

GraphMAE2 small_model() { return GraphMAE2(GraphMAE2Options(6).num_hidden(8).heads(2)); }

TEST(MiniBatchInference, EgoInferenceEqualsOneForwardPerEgoGraph) {
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

TEST(MiniBatchInference, LayerwiseInferenceEqualsTheFullGraphEmbedding) {
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

TEST(MiniBatchInference, LayerwiseInferenceEqualsTheFullGraphEmbeddingOnCora) {
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

}  // namespace
}  // namespace graphmae2::models::graphmae2
