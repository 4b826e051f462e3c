// graphmae2-train: pretrain GraphMAE2 on a node dataset over several seeds and report linear-probe accuracy.

#include "datasets/registry.h"
#include "models/train/cli.h"
#include "models/train/config.h"
#include "models/train/experiment.h"
#include "models/train/trainer.h"

#include <torch/torch.h>

#include <iostream>

namespace train = graphmae2::models::train;

namespace {

const char* kUsage = R"(usage: graphmae2-train --dataset NAME [--config FILE] [--seeds 0-4] [--out DIR] [--data-root DIR]
                       [--device cpu|cuda[:N]] [--resume] [--fail-on-collapse] [--no-progress] [--KEY VALUE ...]

  --dataset NAME      cora | citeseer | pubmed | ogbn-arxiv | ... | an .h5 cache | a folder in OGB raw layout
  --config FILE       YAML with the reference's keys (configs/<dataset>.yaml); flags override it
  --seeds LIST        seeds to run, e.g. 0-9 or 0,2,5 (default 0)
  --out DIR           where checkpoints, embeddings (.h5), metrics.jsonl and result.json go (default runs/<dataset>)
  --data-root DIR     dataset root (else $GRAPHMAE2_DATA, else ../shared/datasets, else ./data)
  --device DEV        cpu (default), cuda or cuda:N: where pre-training runs (the probe runs on the CPU)
  --resume            continue each seed from OUT/seed<k>/checkpoint.pt
  --fail-on-collapse  exit with an error when the diagnostics flag a collapse
  --no-progress       no progress bar
  --KEY VALUE         any config key, e.g. --max_epoch 50 --lr 0.001 --use_latent false
  --help              this text; --list-keys prints every config key with its default
)";

}  // namespace

int main(int argc, char** argv) {
  try {
    auto args = train::parse_args(argc, argv, {"dataset", "config", "seeds", "out", "data-root", "device"},
                                  {"resume", "fail-on-collapse", "no-progress", "help", "list-keys"},
                                  train::is_config_key, train::is_bool_key);
    auto flag = [&](const std::string& name) { return args.tool.count(name) ? args.tool.at(name) : std::string(); };
    auto on = [&](const std::string& name) { return flag(name) == "true"; };
    if (on("help")) {
      std::cout << kUsage;
      return 0;
    }
    if (on("list-keys")) {
      std::cout << train::TrainConfig().to_yaml();
      return 0;
    }
    if (!args.positional.empty()) throw train::UsageError("unexpected argument '" + args.positional.front() + "'");
    if (flag("dataset").empty()) throw train::UsageError("--dataset is required");

    train::TrainConfig cfg;
    if (!flag("config").empty()) train::apply_config_file(cfg, flag("config"));
    train::apply_overrides(cfg, args.overrides);
    cfg.validate();
    if (cfg.num_threads > 0) torch::set_num_threads(static_cast<int>(cfg.num_threads));

    train::ExperimentOptions options;
    options.seeds = train::parse_seeds(flag("seeds").empty() ? "0" : flag("seeds"));
    options.out_dir = flag("out").empty() ? std::filesystem::path("runs") / flag("dataset") : std::filesystem::path(flag("out"));
    options.resume = on("resume");
    options.fail_on_collapse = on("fail-on-collapse");
    options.progress = !on("no-progress");
    options.device = train::parse_device(flag("device").empty() ? "cpu" : flag("device"));

    const auto root = graphmae2::datasets::resolve_data_root(
        flag("data-root").empty() ? std::nullopt : std::optional<std::string>(flag("data-root")));
    auto data = graphmae2::datasets::load_node_dataset(flag("dataset"), root);
    std::cout << "graphmae2-train: " << data.name << " (" << data.num_nodes() << " nodes, " << data.graph.num_edges()
              << " edges, " << data.feature_dim() << " features, " << data.num_classes << " classes), "
              << options.seeds.size() << " seed(s), output in " << options.out_dir.string() << std::endl;
    auto result = train::run_experiment(cfg, data, options);
    std::cout << std::fixed;
    std::cout.precision(1);
    std::cout << result.dataset << "  " << result.protocol << " (last epoch) " << result.final_mean << " ± "
              << result.final_std << "\n";
    std::cout << result.summary_line() << std::endl;
    return 0;
  } catch (const train::UsageError& e) {
    std::cerr << "graphmae2-train: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const std::invalid_argument& e) {
    std::cerr << "graphmae2-train: error: " << e.what() << "\n";
    return 2;
  } catch (const train::TrainingDiverged& e) {
    std::cerr << "graphmae2-train: training diverged: " << e.what() << "\n";
    return 3;
  } catch (const train::CollapseDetected& e) {
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
