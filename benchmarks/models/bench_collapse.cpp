// Issue 15's collapse reproduction: a synthetic graph of a user's shape (dense, heterophilous, sparse binary text
// features), GraphMAE2 pre-trained on it with a shipped config, and the baselines a user compares with: the same
// linear probe on the raw features and on 2-hop mean-smoothed features. One JSON line per run.
//
//   bench_collapse [--dataset cora|citeseer|synthetic:...] [--config configs/cora.yaml] [--set KEY=VALUE ...]
//                  [--seeds 0-2] [--threads 2] [--out DIR]
//
// --dataset defaults to the synthetic reproduction below; cora and citeseer check that a remedy does no harm.
//
// Per seed: the probe's test accuracy, and the collapse figures of the final embeddings (effective rank, mean
// pairwise cosine, per-dimension std of the normalised rows) with the diagnostics' warnings. The user's run:
// --set num_hidden=256 --set num_heads=4 --set max_epoch=300.

#include "benchmarks/overrides.h"
#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "graph/ops/spmm.h"
#include "graph/transforms.h"
#include "models/engine/cli.h"
#include "models/engine/diagnostics.h"
#include "models/eval/linear_probe.h"
#include "models/graphmae2/experiment.h"

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

namespace {

namespace ds = graphmae2::datasets;
namespace gm = graphmae2::models::graphmae2;
namespace engine = graphmae2::models::engine;
namespace eval = graphmae2::models::eval;

// P x with P the row-normalised adjacency with self-loops (a mean over the neighbourhood and the node).
torch::Tensor mean_smooth(const graphmae2::graph::CsrGraph& graph, const torch::Tensor& x) {
  const auto g = graphmae2::graph::add_self_loops(graphmae2::graph::remove_self_loops(graph));
  const auto degree = (g.indptr.narrow(0, 1, g.num_rows()) - g.indptr.narrow(0, 0, g.num_rows())).to(torch::kFloat32);
  const auto weights = degree.index_select(0, g.row_ids()).reciprocal().unsqueeze(1);
  return graphmae2::graph::spmm(g, weights, x.unsqueeze(1)).squeeze(1);
}

double probe(const torch::Tensor& x, const ds::NodeDataset& data, const gm::GraphMAE2Config& cfg, uint64_t seed) {
  return eval::linear_probe(x, data.labels, data.num_classes, data.train_mask, data.val_mask, data.test_mask,
                            cfg.probe_options(seed))
      .test_acc;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"GraphMAE2 on a synthetic graph that collapses, against raw-feature and smoothed-feature probes"};
  // The shape of the user's graph in issue 15: raw-feature probe 83.5, 2-hop smoothed 70.3 (theirs: 84, 73).
  std::string spec =
      "synthetic:nodes=5200,degree=66,classes=6,dim=8200,homophily=0.27,words=30,informative=0.35,seed=0,train=0.2,"
      "val=0.2";
  std::string config = "configs/cora.yaml", seeds_text = "0", out = "runs/bench_collapse";
  std::vector<std::string> sets;
  int threads = 2;
  app.add_option("--dataset,--synthetic", spec, "the graph: a dataset name (cora, citeseer, ...) or synthetic:KEYS");
  app.add_option("--config", config, "GraphMAE2 config file");
  app.add_option("--set", sets, "KEY=VALUE overrides of the config (repeatable)");
  app.add_option("--seeds", seeds_text, "pre-training seeds, e.g. 0-2");
  app.add_option("--threads", threads, "intra-op threads");
  app.add_option("--out", out, "run folder (overwritten)");
  CLI11_PARSE(app, argc, argv);
  try {
    at::set_num_threads(threads);
    const auto data = ds::load_node_dataset(spec, ds::resolve_data_root(std::nullopt), {});
    gm::GraphMAE2Config cfg;
    cfg.apply_file(config);
    cfg.apply_overrides(graphmae2::benchmarks::split_overrides(sets));
    cfg.dataset = data.name;
    cfg.num_threads = threads;
    cfg.validate();

    nlohmann::ordered_json line{{"bench", "collapse"}, {"graph", data.name}, {"config", config},
                                {"set", sets},         {"threads", threads}, {"edges", data.graph.num_edges()}};
    line["raw_feature_probe"] = 100 * probe(data.features, data, cfg, 0);
    line["smoothed_2hop_probe"] =
        100 * probe(mean_smooth(data.graph, mean_smooth(data.graph, data.features)), data, cfg, 0);

    gm::ExperimentOptions options;
    options.out_dir = out;
    options.seeds = engine::parse_seeds(seeds_text);
    options.progress = false;
    std::filesystem::remove_all(out);
    const auto t0 = std::chrono::steady_clock::now();
    const auto result = gm::run_experiment(cfg, data, options);
    line["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    line["runs"] = nlohmann::ordered_json::array();
    for (const auto& s : result.seeds) {
      const auto emb =
          ds::read_h5_tensor(options.out_dir / ("embeddings_seed" + std::to_string(s.seed) + ".h5"), "embeddings");
      line["runs"].push_back({{"seed", s.seed},
                              {"probe", 100 * s.probe.test_acc},
                              {"effective_rank", engine::effective_rank(emb)},
                              {"mean_cosine", engine::mean_pairwise_cosine(emb)},
                              {"embedding_std", engine::per_dim_std(emb)},
                              {"warnings", s.warnings.size()}});
    }
    line["probe_mean"] = result.mean;
    line["probe_std"] = result.std;
    std::cout << line.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "bench_collapse: " << e.what() << "\n";
    return 1;
  }
}
