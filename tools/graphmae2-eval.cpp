// graphmae2-eval: node-classification accuracy of a pretrained GraphMAE2 (checkpoint) or of saved embeddings.

#include "datasets/registry.h"
#include "models/engine/cli.h"
#include "models/graphmae2/evaluate.h"
#include "tools/common/tool_main.h"

#include <iostream>
#include <optional>

namespace engine = graphmae2::models::engine;
namespace gm = graphmae2::models::graphmae2;

namespace {

const char* kUsage =
    R"(usage: graphmae2-eval --dataset NAME (--checkpoint FILE.pt | --embeddings FILE.h5) [--mode linear|finetune]
                      [--seeds 0-9] [--data-root DIR] [--split NAME] [--lr_f X] [--weight_decay_f X] [--max_epoch_f N]

  --checkpoint FILE   a graphmae2-train checkpoint (OUT/seed<k>/checkpoint.pt); its stored config rebuilds the model
  --embeddings FILE   an .h5 with a float [N, D] dataset "embeddings" (graphmae2-train writes OUT/embeddings_seed<k>.h5)
  --mode              linear: logistic regression on frozen embeddings; finetune: encoder + head end to end
                      (default: the run's own, linear_prob; linear for --embeddings)
  --seeds LIST        probe seeds; prints mean ± std over them (default 0-9)
  --no-progress       no progress bar (seeds x probe epochs, on stderr)
  probe settings default to the config of the run that wrote the checkpoint or the embeddings (lr_f,
  weight_decay_f, max_epoch_f; the sampler sets mini-batch probing); flags override them
)";

int evaluate(int argc, char** argv) {
  engine::CommandLine cli("graphmae2-eval");
  cli.value("dataset", "dataset")
      .value("checkpoint", "checkpoint")
      .value("embeddings", "embeddings .h5")
      .value("mode", "linear or finetune")
      .value("seeds", "probe seeds")
      .value("data-root", "dataset root")
      .value("split", "OGB split folder")
      .flag("help", "usage")
      .flag("no-progress", "no progress bar")
      .config_keys({"lr_f", "weight_decay_f", "max_epoch_f"}, {});
  const auto args = cli.parse(argc, argv);
  if (args.on("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (args.get("dataset").empty()) throw engine::UsageError("--dataset is required");
  if (args.get("checkpoint").empty() == args.get("embeddings").empty()) {
    throw engine::UsageError("give exactly one of --checkpoint and --embeddings");
  }
  const std::string mode = args.get("mode");
  if (!mode.empty() && mode != "linear" && mode != "finetune") {
    throw engine::UsageError("--mode must be linear or finetune, got '" + mode + "'");
  }
  if (mode == "finetune" && args.get("checkpoint").empty())
    throw engine::UsageError("--mode finetune needs --checkpoint");
  gm::EvaluationOptions options;
  options.dataset = args.get("dataset");
  options.data_root = graphmae2::datasets::resolve_data_root(
      args.get("data-root").empty() ? std::nullopt : std::optional<std::string>(args.get("data-root")));
  options.split = args.get("split");
  options.checkpoint = args.get("checkpoint");
  options.embeddings = args.get("embeddings");
  if (!mode.empty()) options.linear = mode == "linear";
  options.overrides = args.overrides;
  options.seeds = engine::parse_seeds(args.get("seeds", "0-9"));
  options.progress = !args.on("no-progress");
  options.log = graphmae2::tools::console_log();
  const auto result = gm::evaluate_pretrained(options);
  for (size_t k = 0; k < result.seeds.size(); ++k)
    std::cout << gm::probe_line(result.seeds[k], result.probes[k]) << "\n";
  std::cout << result.last_epoch_line() << "\n" << result.line() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  graphmae2::tools::exec_with_short_openmp_spin(argv);
  return graphmae2::tools::run_tool("graphmae2-eval", kUsage, [&] { return evaluate(argc, argv); });
}
