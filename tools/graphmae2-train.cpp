// graphmae2-train: pretrain GraphMAE2 on a node dataset over several seeds and report linear-probe accuracy.

#include "datasets/dataset_h5.h"
#include "datasets/registry.h"
#include "models/engine/cli.h"
#include "models/engine/loop.h"
#include "models/engine/openmp_wait.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/experiment.h"
#include "models/graphmae2/trainer.h"

#include <torch/torch.h>

#include <iostream>

namespace engine = graphmae2::models::engine;
namespace gm = graphmae2::models::graphmae2;

namespace {

const char* kUsage = R"(usage: graphmae2-train --dataset NAME [--config FILE] [--seeds 0-4] [--out DIR] [--data-root DIR]
                       [--device cpu|cuda[:N]] [--resume | --overwrite] [--on-collapse advise|stop|retry] [--no-eval] [--no-progress] [--KEY VALUE ...]

  --dataset NAME      cora | citeseer | pubmed | ogbn-arxiv | ... | an .h5 cache | a folder in OGB raw layout
                      (the config key `dataset`, recorded in every checkpoint)
  --config FILE       YAML with the reference's keys (configs/<dataset>.yaml); flags override it
  --seeds LIST        seeds to run, e.g. 0-9 or 0,2,5 (default 0)
  --out DIR           where checkpoints, embeddings (.h5), metrics.jsonl and result.json go (default runs/<dataset>)
  --data-root DIR     dataset root (else $GRAPHMAE2_DATA, else ../shared/datasets, else ./data)
  --split NAME        OGB datasets: the split/ folder to use (default: OGB's, or the only one)
  --device DEV        cpu (default), cuda or cuda:N: where pre-training runs (the probe runs on the CPU)
  --resume            continue each seed from OUT/seed<k>/checkpoint.pt
  --overwrite         replace the run OUT holds (without it or --resume, a run there is refused)
  --on-collapse WHAT  when the diagnostics flag a collapse: advise (print the warning; default), stop (exit 4),
                      retry (stop that seed and train it again from the start, once, with the remedy measured
                      best in docs/diagnostics.md; result.json and the summary line report both attempts);
                      the config key on_collapse
  --fail-on-collapse  the same as --on-collapse stop
  --no-eval           pre-train only: checkpoints and metrics, no embeddings or probe (evaluate later with
                      graphmae2-eval --checkpoint)
  --no-progress       no progress bar
  --KEY VALUE         any config key, e.g. --max_epoch 50 --lr 0.001 --use_latent false --fanouts 15,10,5
  --help              this text; --list-keys prints every config key with its default
)";

}  // namespace

int main(int argc, char** argv) {
  graphmae2::models::engine::exec_with_short_openmp_spin(argv);
  try {
    engine::CommandLine cli("graphmae2-train");
    cli.value("config", "YAML config").value("seeds", "seed list").value("out", "output folder")
        .value("data-root", "dataset root").value("split", "OGB split folder").value("device", "cpu or cuda[:N]")
        .flag("resume", "continue from checkpoints")
        .flag("overwrite", "replace the run in --out").flag("fail-on-collapse", "exit 4 on a collapse flag")
        .value("on-collapse", "advise, stop or retry")
        .flag("no-eval", "pre-train only")
        .flag("no-progress", "no progress bar").flag("help", "usage").flag("list-keys", "print every config key")
        .config_keys(gm::GraphMAE2Config::keys(), gm::GraphMAE2Config::bool_keys());
    const auto args = cli.parse(argc, argv);
    if (args.on("help")) {
      std::cout << kUsage;
      return 0;
    }
    if (args.on("list-keys")) {
      std::cout << gm::GraphMAE2Config().to_yaml();
      return 0;
    }

    gm::GraphMAE2Config cfg;
    if (!args.get("config").empty()) cfg.apply_file(args.get("config"));
    cfg.apply_overrides(args.overrides);
    if (!args.get("on-collapse").empty()) cfg.set("on_collapse", args.get("on-collapse"), "command line --on-collapse");
    if (args.on("fail-on-collapse")) {
      if (!args.get("on-collapse").empty() && cfg.on_collapse != gm::OnCollapse::stop) {
        throw engine::UsageError("--fail-on-collapse is --on-collapse stop; it contradicts --on-collapse " +
                                 args.get("on-collapse"));
      }
      cfg.on_collapse = gm::OnCollapse::stop;
    }
    if (cfg.dataset.empty()) throw engine::UsageError("--dataset is required");
    cfg.validate();
    if (cfg.num_threads > 0) torch::set_num_threads(static_cast<int>(cfg.num_threads));

    gm::ExperimentOptions options;
    options.seeds = engine::parse_seeds(args.get("seeds", "0"));
    options.out_dir = args.get("out").empty() ? std::filesystem::path("runs") / cfg.dataset
                                              : std::filesystem::path(args.get("out"));
    options.resume = args.on("resume");
    options.progress = !args.on("no-progress");
    options.evaluate = !args.on("no-eval");
    engine::claim_output_dir(options.out_dir, options.resume, args.on("overwrite"));
    options.device = engine::parse_device(args.get("device", "cpu"));

    const auto root = graphmae2::datasets::resolve_data_root(
        args.get("data-root").empty() ? std::nullopt : std::optional<std::string>(args.get("data-root")));
    graphmae2::datasets::NodeDataset data;
    if (cfg.feature_storage == gm::FeatureStorage::disk) {
      // The graph, labels and splits in memory; the feature matrix stays in the cache and batches read its rows.
      const std::filesystem::path file(cfg.dataset);
      if (file.extension() != ".h5" || !std::filesystem::is_regular_file(file)) {
        throw std::invalid_argument("feature_storage disk reads the features from a dataset cache, but --dataset is '" +
                                    cfg.dataset + "'; write one with graphmae2-data convert <dataset> FILE.h5 "
                                    "[--feature-dtype float16] and give --dataset FILE.h5");
      }
      data = graphmae2::datasets::load_dataset_h5(file, /*with_features=*/false);
      options.features = graphmae2::datasets::FeatureStore::open_h5(file, "features", gm::feature_normalization(cfg));
      std::cout << "features on disk: " << file.string() << " (" << options.features.num_rows() << " x "
                << options.features.dim() << " " << (options.features.stored_dtype() == torch::kHalf ? "float16" : "float32") << ", "
                << options.features.stored_bytes() / (1 << 20) << " MiB)" << std::endl;
    } else {
      graphmae2::datasets::check_features_fit_memory(cfg.dataset, root);
      graphmae2::datasets::LoadOptions load;
      load.split = args.get("split");
      data = graphmae2::datasets::load_node_dataset(cfg.dataset, root, load);
    }
    std::cout << "graphmae2-train: " << data.name << " (" << data.num_nodes() << " nodes, " << data.graph.num_edges()
              << " edges, " << (options.features.defined() ? options.features.dim() : data.feature_dim()) << " features, " << data.num_classes << " classes), "
              << options.seeds.size() << " seed(s), output in " << options.out_dir.string() << std::endl;
    auto result = gm::run_experiment(cfg, data, options);
    if (!options.evaluate) return 0;
    std::cout << std::fixed;
    std::cout.precision(1);
    std::cout << result.dataset << "  " << result.protocol << " (last epoch) " << result.final_mean << " ± "
              << result.final_std << "\n";
    std::cout << result.summary_line() << std::endl;
    return 0;
  } catch (const engine::UsageError& e) {
    std::cerr << "graphmae2-train: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "graphmae2-train: error: " << e.what() << "\n";
    return 2;
  } catch (const engine::TrainingInterrupted& e) {
    std::cerr << "\n" << e.what() << std::endl;
    return 130;
  } catch (const engine::TrainingDiverged& e) {
    std::cerr << "graphmae2-train: training diverged: " << e.what() << "\n";
    return 3;
  } catch (const gm::CollapseDetected& e) {
    std::cerr << "graphmae2-train: " << e.what() << "\n";
    return 4;
  } catch (const c10::Error& e) {
    std::cerr << "graphmae2-train: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "graphmae2-train: error: " << e.what() << "\n";
    return 1;
  }
}
