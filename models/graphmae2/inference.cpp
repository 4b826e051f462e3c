#include "models/graphmae2/inference.h"

#include "graph/transforms.h"
#include "models/engine/progress.h"
#include "models/graphmae2/batch_source.h"
#include "models/layers/gat_conv.h"

#include <ATen/CPUGeneratorImpl.h>

namespace graphmae2::models::graphmae2 {

torch::Tensor embed_ego_graphs(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                               const graph::sampling::EgoGraphs& egos, int64_t batch_size, bool sparse_input,
                               const torch::Device& device, const EmbeddingRowsCallback& on_rows, bool progress) {
  TORCH_CHECK(batch_size >= 1, "embed_ego_graphs: batch size must be >= 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  std::vector<torch::Tensor> parts;
  const auto unused = at::make_generator<at::CPUGeneratorImpl>(0);
  engine::ProgressBar bar("ego-graph inference", egos.size(), progress, 0);
  for (int64_t begin = 0; begin < egos.size(); begin += batch_size) {
    const auto which = torch::arange(begin, std::min(egos.size(), begin + batch_size), torch::kLong);
    const auto cpu_batch = make_lc_batch(graph, features, egos, which, 0.0, sparse_input, unused);
    const auto b = cpu_batch->to(device);
    const auto& batch = b->batch;
    parts.push_back(model->embed(batch.graph, batch.features, batch.sparse).index_select(0, batch.targets).cpu());
    if (on_rows) on_rows(begin, parts.back());
    bar.update(begin + which.size(0), "");
  }
  bar.finish();
  model->train(was_training);
  return torch::cat(parts);
}

torch::Tensor embed_layerwise(GraphMAE2& model, const graph::CsrGraph& graph, const datasets::FeatureStore& features,
                              int64_t batch_size, const torch::Device& device, bool progress) {
  TORCH_CHECK(batch_size >= 1, "embed_layerwise: batch size must be >= 1, got ", batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const int64_t n = graph.num_nodes();
  TORCH_CHECK(features.num_rows() == n, "embed_layerwise: ", features.num_rows(), " feature rows for ", n, " nodes");
  torch::Tensor h;  // the previous layer's output; the first layer reads the feature store
  const int64_t num_layers = static_cast<int64_t>(model->encoder->layers->size());
  engine::ProgressBar bar("layer-wise inference", num_layers * ((n + batch_size - 1) / batch_size), progress, 0);
  int64_t done = 0;
  for (const auto& module : *model->encoder->layers) {
    auto layer = std::dynamic_pointer_cast<layers::GATConvImpl>(module);
    TORCH_CHECK(layer != nullptr, "embed_layerwise: the encoder holds a layer that is not a GATConv");
    torch::Tensor next;
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto rows = torch::arange(begin, std::min(n, begin + batch_size), torch::kLong);
      const auto block = graph::select_rows(graph, rows);
      const auto input = h.defined() ? h.index_select(0, block.src_ids) : features.gather(block.src_ids);
      const auto out = layer->forward(block.to(device), input.to(device, torch::kFloat)).cpu();
      if (!next.defined()) next = torch::empty({n, out.size(1)}, out.options());
      next.narrow(0, begin, rows.size(0)).copy_(out);
      bar.update(++done, "");
    }
    h = next;
  }
  if (model->encoder->options.input_skip()) {
    // A second read of the features rather than keeping layer 0's projection of every node: that would be a
    // third [N, num_hidden] tensor beside h and next, the memory this inference exists to bound.
    for (int64_t begin = 0; begin < n; begin += batch_size) {
      const auto rows = torch::arange(begin, std::min(n, begin + batch_size), torch::kLong);
      const auto x = features.gather(rows).to(device, torch::kFloat);
      h.narrow(0, begin, rows.size(0)) += model->encoder->project_input(x).cpu();
    }
  }
  bar.finish();
  model->train(was_training);
  return h;
}

}  // namespace graphmae2::models::graphmae2
