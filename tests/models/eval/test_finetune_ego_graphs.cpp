// Fine-tuning on ego-graphs: it learns, leaves the pretrained encoder alone, keeps the best-validation model, and
// refuses labelled nodes without an ego-graph.

#include "graph/transforms.h"
#include "models/eval/finetune_ego_graphs.h"
#include "models/graphmae2/graphmae2.h"

#include "fixtures/tiny_dataset.h"

#include <gtest/gtest.h>

namespace graphmae2::models::eval {
namespace {

using ::graphmae2::models::graphmae2::GraphMAE2;
using ::graphmae2::models::graphmae2::GraphMAE2Options;

TEST(FineTuneEgoGraphs, LearnsAndLeavesThePretrainedEncoderAlone) {
  const auto data = testing::tiny_dataset(120, 12, 3, 3, 5);
  const auto g = graph::add_self_loops(graph::remove_self_loops(data.graph));
  graph::sampling::LocalClusteringOptions lc;
  lc.ego_size = 8;
  const auto prepared = graph::bidirected_with_self_loops(data.graph);
  const auto egos = graph::sampling::local_clustering(prepared, torch::arange(120, torch::kLong), lc);
  torch::manual_seed(6);
  auto model = GraphMAE2(GraphMAE2Options(12).num_hidden(8).heads(2));
  std::vector<torch::Tensor> before;
  for (const auto& p : model->encoder->parameters()) before.push_back(p.detach().clone());
  const datasets::FeatureStore features(data.features);
  ProbeOptions o{0.01, 0.0, 40, 3, 16};
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
  const auto train_only = graph::sampling::local_clustering(prepared, data.train_mask.nonzero().flatten(), lc);
  EXPECT_THROW(finetune_ego_graphs(model->encoder, g, features, train_only, data.labels, 3, data.train_mask,
                                   data.val_mask, data.test_mask, o, torch::kCPU),
               c10::Error);
}

}  // namespace
}  // namespace graphmae2::models::eval
