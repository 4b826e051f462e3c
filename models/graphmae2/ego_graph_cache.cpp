#include "models/graphmae2/ego_graph_cache.h"

#include "datasets/ego_graphs_h5.h"
#include "graph/transforms.h"
#include "models/engine/progress.h"
#include "util/stopwatch.h"

#include <optional>

namespace graphmae2::models::graphmae2 {

namespace {

graph::sampling::EgoGraphs read_cached(const std::filesystem::path& file, const graph::CsrGraph& lc_graph,
                                       const GraphMAE2Config& cfg, const engine::LogSink& log) {
  auto loaded = datasets::load_ego_graphs_h5(file, lc_graph);
  if (loaded.options.ego_size != cfg.ego_size) {
    throw std::runtime_error(file.string() + ": ego-graphs of size " + std::to_string(loaded.options.ego_size) +
                             ", but ego_size is " + std::to_string(cfg.ego_size) +
                             "; recompute them (graphmae2-data lc --ego-size " + std::to_string(cfg.ego_size) +
                             ") or give another lc_file");
  }
  engine::log_info(log, "ego-graphs: " + file.string() + " (" + std::to_string(loaded.egos.size()) + " seeds)");
  return loaded.egos;
}

}  // namespace

torch::Tensor split_seeds(const datasets::NodeDataset& data) {
  return torch::cat(
      {data.train_mask.nonzero().flatten(), data.val_mask.nonzero().flatten(), data.test_mask.nonzero().flatten()});
}

graph::sampling::EgoGraphs lc_ego_graphs(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                         const graph::CsrGraph& prepared, const std::filesystem::path& out_dir,
                                         bool progress, const engine::LogSink& log) {
  const std::filesystem::path file = cfg.lc_file.empty() ? out_dir / ("lc-ego" + std::to_string(cfg.ego_size) + ".h5")
                                                         : std::filesystem::path(cfg.lc_file);
  std::optional<graph::CsrGraph> own;
  if (!cfg.symmetrize) own = graph::bidirected_with_self_loops(data.graph);
  const graph::CsrGraph& lc_graph = own ? *own : prepared;
  if (std::filesystem::exists(file)) return read_cached(file, lc_graph, cfg, log);
  const auto seeds = split_seeds(data);
  if (seeds.size(0) == 0) throw std::runtime_error("lc sampler: the dataset has no train, valid or test nodes");
  graph::sampling::LocalClusteringOptions lc;
  lc.ego_size = cfg.ego_size;
  engine::ProgressBar bar("ego-graphs " + data.name, seeds.size(0), progress, 0);
  const auto t0 = util::Clock::now();
  auto egos = graph::sampling::local_clustering(lc_graph, seeds, lc, [&](int64_t done) {
    const double rate = static_cast<double>(done) / std::max(util::seconds_since(t0), 1e-9);
    bar.update(done, std::to_string(static_cast<int64_t>(rate)) + " seeds/s");
  });
  bar.finish();
  std::filesystem::create_directories(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
  datasets::save_ego_graphs_h5(egos, lc_graph, lc, data.name, file);
  engine::log_info(log, "ego-graphs: computed " + std::to_string(egos.size()) + " and cached them in " + file.string());
  return egos;
}

}  // namespace graphmae2::models::graphmae2
