// graphmae2-train: pretrain GraphMAE2 on a node dataset over several seeds and report linear-probe accuracy.

#include "datasets/dataset_h5.h"
#include "datasets/registry.h"
#include "models/engine/cli.h"
#include "models/engine/loop.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/experiment.h"
#include "models/graphmae2/trainer.h"
#include "tools/common/tool_main.h"

#include <torch/torch.h>

#include <iostream>

namespace engine = graphmae2::models::engine;
namespace gm = graphmae2::models::graphmae2;

namespace {

const char* kUsage =
    R"(usage: graphmae2-train --dataset NAME [--config FILE] [--seeds 0-4] [--out DIR] [--data-root DIR]
                       [--device cpu|cuda[:N]] [--resume | --overwrite] [--on-collapse advise|stop|retry]
                       [--no-eval] [--no-progress] [--KEY VALUE ...]

  --dataset NAME      cora | citeseer | pubmed | ogbn-arxiv | ... | an .h5 cache | a folder in OGB raw layout
                      (the config key `dataset`, recorded in every checkpoint)
  --config FILE       YAML with the reference's keys (configs/<dataset>.yaml); flags override it
  --seeds LIST        seeds to run, e.g. 0-9 or 0,2,5 (default 0)
  --out DIR           where checkpoints, embeddings (.h5), metrics.jsonl and result.json go (default runs/<dataset>)
  --data-root DIR     dataset root (else $GRAPHMAE2_DATA, else ./data)
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

// The config of the run: defaults < --config file < --KEY flags < --on-collapse / --fail-on-collapse.
gm::GraphMAE2Config resolve_config(const engine::ParsedArgs& args) {
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
  for (const auto& note : cfg.notes) std::cerr << "graphmae2-train: " << note << "\n";
  return cfg;
}

double seconds_flag(const std::string& name, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(value > 0)) {
    throw engine::UsageError("--" + name + " '" + text + "': expected a number of seconds > 0");
  }
  return value;
}

gm::ExperimentOptions experiment_options(const engine::ParsedArgs& args, const gm::GraphMAE2Config& cfg) {
  gm::ExperimentOptions options;
  options.seeds = engine::parse_seeds(args.get("seeds", "0"));
  options.out_dir =
      args.get("out").empty() ? std::filesystem::path("runs") / cfg.dataset : std::filesystem::path(args.get("out"));
  options.resume = args.on("resume");
  options.progress = !args.on("no-progress");
  options.evaluate = !args.on("no-eval");
  options.device = engine::parse_device(args.get("device", "cpu"));
  options.log = graphmae2::tools::console_log();
  return options;
}

int train(int argc, char** argv) {
  engine::CommandLine cli("graphmae2-train");
  cli.value("config", "YAML config")
      .value("seeds", "seed list")
      .value("out", "output folder")
      .value("data-root", "dataset root")
      .value("split", "OGB split folder")
      .value("device", "cpu or cuda[:N]")
      .flag("resume", "continue from checkpoints")
      .flag("overwrite", "replace the run in --out")
      .flag("fail-on-collapse", "exit 4 on a collapse flag")
      .value("on-collapse", "advise, stop or retry")
      .flag("no-eval", "pre-train only")
      .flag("no-progress", "no progress bar")
      .value("dist-timeout", "seconds a process waits for the others under torchrun (default 600)")
      .flag("help", "usage")
      .flag("list-keys", "print every config key")
      .config_keys(gm::GraphMAE2Config::flag_names(), gm::GraphMAE2Config::bool_flag_names());
  const auto args = cli.parse(argc, argv);
  if (args.on("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.on("list-keys")) {
    std::cout << gm::GraphMAE2Config().to_yaml();
    return 0;
  }
  const auto cfg = resolve_config(args);
  if (cfg.num_threads > 0) torch::set_num_threads(static_cast<int>(cfg.num_threads));
  auto options = experiment_options(args, cfg);
  options.group = graphmae2::tools::join_launch_group("graphmae2-train",
                                                      seconds_flag("dist-timeout", args.get("dist-timeout", "600")));
  options.log = graphmae2::tools::console_log(options.group.get());
  const bool main_rank = !options.group || options.group->is_main();
  if (options.group && !main_rank) options.progress = false;
  // Rank 0 claims --out; the others wait until it has.
  if (main_rank) {
    for (const auto& line : engine::claim_output_dir(options.out_dir, options.resume, args.on("overwrite"))) {
      std::cout << line << std::endl;
    }
  }
  if (options.group) options.group->barrier("rank 0 claiming " + options.out_dir.string());
  const auto root = graphmae2::datasets::resolve_data_root(
      args.get("data-root").empty() ? std::nullopt : std::optional<std::string>(args.get("data-root")));
  auto dataset = gm::load_run_dataset(cfg, root, args.get("split"));
  options.features = dataset.features;
  if (main_rank)
    std::cout << "graphmae2-train: " << dataset.describe() << ", " << options.seeds.size() << " seed(s), output in "
              << options.out_dir.string() << std::endl;
  const auto result = gm::run_experiment(cfg, dataset.data, options);
  if (!options.evaluate || !main_rank) return 0;
  std::cout << result.last_epoch_line() << "\n" << result.summary_line() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  graphmae2::tools::exec_with_short_openmp_spin(argv);
  return graphmae2::tools::run_tool("graphmae2-train", kUsage, [&] { return train(argc, argv); });
}
