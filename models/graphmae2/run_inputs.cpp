#include "models/graphmae2/run_inputs.h"

#include "models/eval/finetune.h"
#include "models/eval/finetune_ego_graphs.h"
#include "models/graphmae2/ego_graph_cache.h"

namespace graphmae2::models::graphmae2 {

RunInputs::RunInputs(const GraphMAE2Config& cfg_in, const datasets::NodeDataset& data_in,
                     const RunInputsOptions& options)
    : cfg(cfg_in), data(data_in), device(options.device) {
  minibatch = cfg.sampler != Sampler::full;
  prepare_features(options);
  if (cfg.sampler == Sampler::lc) load_ego_graphs(options);
  select_embedded_nodes();
}

void RunInputs::prepare_features(const RunInputsOptions& options) {
  const bool on_disk = options.features.defined();
  TORCH_CHECK(!on_disk || minibatch, "features on disk need a mini-batch sampler (lc, neighbor or saint)");
  if (on_disk) {
    TORCH_CHECK(options.features.num_rows() == data.num_nodes(), "the features on disk have ",
                options.features.num_rows(), " rows but the graph has ", data.num_nodes(), " nodes");
    cpu_input.graph = prepare_graph(data, cfg);
  } else {
    cpu_input = prepare_inputs(data, cfg);
  }
  const bool batch_sparse = cpu_input.sparse_features.has_value();
  if (minibatch) cpu_input.sparse_features.reset();  // batches build their own; the whole-graph index is not needed
  if (cfg.feature_dtype == FeatureDtype::float16 && !on_disk) {
    cpu_input.features = datasets::to_float16_checked(cpu_input.features);
  }
  // Mini-batch: the features stay on the CPU (or on disk) and each batch's rows go to the device.
  features = on_disk     ? options.features
             : minibatch ? datasets::FeatureStore(cpu_input.features)
                         : datasets::FeatureStore();
  input = device.is_cpu() || minibatch ? cpu_input : cpu_input.to(device);
  set_batch_options(batch_sparse);
}

void RunInputs::load_ego_graphs(const RunInputsOptions& options) {
  egos = lc_ego_graphs(cfg, data, cpu_input.graph, options.out_dir, options.progress, options.log);
  TORCH_CHECK(cfg.batch_size <= egos->size(), "batch_size ", cfg.batch_size, " is larger than the ", egos->size(),
              " ego-graphs (seeds) to train on");
  // The probe reads every train/valid/test node's embedding: each needs its ego-graph.
  const auto missing =
      (data.train_mask | data.val_mask | data.test_mask).index_put({egos->seeds}, torch::tensor(false));
  const int64_t num_missing = missing.sum().item<int64_t>();
  TORCH_CHECK(num_missing == 0, "the ego-graph file has no ego-graph for ", num_missing,
              " train/valid/test nodes (e.g. node ", num_missing > 0 ? missing.nonzero()[0][0].item<int64_t>() : -1,
              "): compute it with graphmae2-data lc --seeds split (or all)");
}

void RunInputs::set_batch_options(bool sparse_input) {
  batch_options.sampler = cfg.sampler;
  batch_options.batch_size = cfg.batch_size;
  batch_options.drop_edge_rate = cfg.drop_edge_rate;
  batch_options.saint_walk_length = cfg.saint_walk_length;
  batch_options.fanouts = cfg.fanouts;
  batch_options.sparse_input = sparse_input;
  batch_options.pin_memory = device.is_cuda();
}

void RunInputs::select_embedded_nodes() {
  // With lc, the ego-graph seeds (each embedded in its own ego-graph, as the reference's probe); otherwise every
  // node (layer-wise full-neighbour inference for mini-batch models: the whole graph is never on the device).
  embedded_nodes = egos ? egos->seeds : torch::arange(data.num_nodes(), torch::kLong);
  labels = data.labels.index_select(0, embedded_nodes);
  train_mask = data.train_mask.index_select(0, embedded_nodes);
  val_mask = data.val_mask.index_select(0, embedded_nodes);
  test_mask = data.test_mask.index_select(0, embedded_nodes);
}

torch::Tensor RunInputs::embed_nodes(GraphMAE2& model, const EmbeddingRowsCallback& on_rows, bool progress) const {
  if (!minibatch) {
    auto emb = embed(model, input).cpu();
    if (on_rows) on_rows(0, emb);
    return emb;
  }
  if (egos) {
    return embed_ego_graphs(model, cpu_input.graph, features, *egos, cfg.batch_size, batch_options.sparse_input, device,
                            on_rows, progress);
  }
  auto emb = embed_layerwise(model, cpu_input.graph, features, 4096, device, progress);
  if (on_rows) on_rows(0, emb);
  return emb;
}

eval::ProbeResult RunInputs::probe(GraphMAE2& model, const torch::Tensor& emb, const eval::ProbeOptions& popt,
                                   bool progress) const {
  if (cfg.linear_prob) return eval::linear_probe(emb, labels, data.num_classes, train_mask, val_mask, test_mask, popt);
  if (egos) {
    auto fopt = popt;
    fopt.batch_size = cfg.batch_size_f;
    return eval::finetune_ego_graphs(model->encoder, cpu_input.graph, features, *egos, data.labels, data.num_classes,
                                     data.train_mask, data.val_mask, data.test_mask, fopt, device, progress);
  }
  model->to(torch::kCPU);  // the labels and masks live on the CPU
  return eval::finetune(model->encoder, cpu_input.graph, cpu_input.features, data.labels, data.num_classes,
                        data.train_mask, data.val_mask, data.test_mask, popt);
}

}  // namespace graphmae2::models::graphmae2
