#include "models/graphmae2/evaluate.h"

#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "models/engine/checkpoint.h"
#include "models/engine/progress.h"
#include "models/graphmae2/experiment.h"

#include <map>

namespace graphmae2::models::graphmae2 {

namespace {

GraphMAE2Config checkpoint_config(const EvaluationOptions& options) {
  GraphMAE2Config cfg;
  const auto state = engine::read_checkpoint_state(options.checkpoint, "graphmae2");
  cfg.apply_text(state.config_yaml, options.checkpoint.string());
  if (cfg.dataset != options.dataset) {
    throw std::invalid_argument(options.checkpoint.string() + " was trained on '" + cfg.dataset + "', not on '" +
                                options.dataset + "'");
  }
  return cfg;
}

// The probe settings the embeddings were trained with, as for a checkpoint (the defaults when they record none).
GraphMAE2Config embeddings_probe_config(const EvaluationOptions& options) {
  const auto file = options.embeddings.string();
  const auto trained = embeddings_config(options.embeddings);
  if (!trained) {
    engine::log_info(options.log, file + " records no training config: the default probe settings apply");
    return {};
  }
  if (!trained->dataset.empty() && trained->dataset != options.dataset) {
    throw std::invalid_argument(file + " holds embeddings of '" + trained->dataset + "', not of '" + options.dataset +
                                "'");
  }
  return *trained;
}

// The saved embeddings, and `data`'s labels and masks cut to the rows they hold (node_ids; absent: every node).
torch::Tensor read_embeddings(const std::filesystem::path& path, datasets::NodeDataset& data) {
  const auto file = path.string();
  auto embeddings = datasets::read_h5_tensor(path, "embeddings").to(torch::kFloat32);
  const auto node_ids = datasets::h5_has(path, "node_ids") ? datasets::read_h5_tensor(path, "node_ids").to(torch::kLong)
                                                           : torch::arange(data.num_nodes(), torch::kLong);
  if (node_ids.dim() != 1 || embeddings.dim() != 2 || embeddings.size(0) != node_ids.size(0)) {
    throw std::invalid_argument(file + ": embeddings have shape " + c10::str(embeddings.sizes()) + " for " +
                                std::to_string(node_ids.numel()) + " node ids (" + data.name + " has " +
                                std::to_string(data.num_nodes()) + " nodes)");
  }
  if (node_ids.numel() > 0 &&
      (node_ids.min().item<int64_t>() < 0 || node_ids.max().item<int64_t>() >= data.num_nodes())) {
    throw std::invalid_argument(file + ": node_ids go outside 0.." + std::to_string(data.num_nodes() - 1) +
                                ": the embeddings are not of " + data.name);
  }
  data.labels = data.labels.index_select(0, node_ids);
  data.train_mask = data.train_mask.index_select(0, node_ids);
  data.val_mask = data.val_mask.index_select(0, node_ids);
  data.test_mask = data.test_mask.index_select(0, node_ids);
  return embeddings;
}

}  // namespace

Evaluation evaluate_pretrained(const EvaluationOptions& options) {
  const bool from_checkpoint = !options.checkpoint.empty();
  if (from_checkpoint == !options.embeddings.empty()) {
    throw std::invalid_argument("give exactly one of a checkpoint and embeddings");
  }
  if (options.linear == false && !from_checkpoint) throw std::invalid_argument("fine-tuning needs a checkpoint");
  datasets::LoadOptions load;
  load.split = options.split;
  auto data = datasets::load_node_dataset(options.dataset, options.data_root, load);
  auto cfg = from_checkpoint ? checkpoint_config(options) : embeddings_probe_config(options);
  const auto embeddings = from_checkpoint ? torch::Tensor() : read_embeddings(options.embeddings, data);
  cfg.apply_overrides(options.overrides);
  if (options.linear) cfg.linear_prob = *options.linear;
  cfg.validate();

  Evaluation out;
  out.dataset = data.name;
  out.protocol = cfg.linear_prob ? "linear-probe" : "fine-tune";
  out.seeds = options.seeds;
  const int64_t epochs_per_seed = cfg.probe_options(0).max_epoch;
  engine::ProgressBar bar(data.name + " " + out.protocol, static_cast<int64_t>(out.seeds.size()) * epochs_per_seed,
                          options.progress, 0);
  std::map<int64_t, int64_t> seed_index;
  for (size_t k = 0; k < out.seeds.size(); ++k) seed_index[out.seeds[k]] = static_cast<int64_t>(k);
  const auto on_epoch = [&](int64_t seed, int64_t epoch) {
    bar.update(seed_index.at(seed) * epochs_per_seed + epoch + 1, "seed " + std::to_string(seed));
  };
  if (from_checkpoint) {
    ExperimentOptions run;
    run.out_dir = options.checkpoint.parent_path().parent_path();
    run.progress = options.progress;
    run.log = options.log;
    out.probes = probe_checkpoint(cfg, data, options.checkpoint, out.seeds, run, on_epoch);
  } else {
    for (const int64_t seed : out.seeds) {
      auto popt = cfg.probe_options(static_cast<uint64_t>(seed));
      popt.on_epoch = [&, seed](int64_t epoch) { on_epoch(seed, epoch); };
      out.probes.push_back(eval::linear_probe(embeddings, data.labels, data.num_classes, data.train_mask, data.val_mask,
                                              data.test_mask, popt));
    }
  }
  bar.finish();
  out.summarise(out.probes);
  return out;
}

}  // namespace graphmae2::models::graphmae2
