// mocov3-train: MoCo v3 pre-training of a ViT on an IDX image set, then a linear probe on frozen features.
//
//   mocov3-train --config configs/mocov3-fashion-mnist.yaml [--out DIR] [--resume] [--KEY VALUE ...]
//
// Every config key is also a flag (--batch_size 128 or --batch_size=128); flags override the file.
// Exit codes (tools/common/tool_main.h): 0 done, 1 runtime failure (data, I/O), 2 bad command line or
// configuration, 3 diverged, 130 interrupted.

#include "models/engine/cli.h"
#include "models/engine/loop.h"
#include "models/mocov3/config.h"
#include "models/mocov3/experiment.h"
#include "models/engine/distributed.h"
#include "tools/common/tool_main.h"

#include <unistd.h>

#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

namespace m3 = graphmae2::models::mocov3;
namespace engine = graphmae2::models::engine;

namespace {

// Where Debian's dataset-fashion-mnist package puts the files (the default when neither the config nor a flag
// names data_root).
constexpr const char* kDebianFashionMnist = "/usr/share/datasets/fashion-mnist";

void usage(std::ostream& os) {
  os << "usage: mocov3-train [--config FILE] [--out DIR] [--resume | --overwrite] [--no-progress] [--KEY VALUE ...]\n"
        "  --config FILE  flat YAML map of the keys below (defaults < file < flags)\n"
        "  --out DIR      run folder: config.yaml, metrics.jsonl, checkpoint.pt, result.json\n"
        "                 (default: runs/mocov3-<dataset>)\n"
        "  --resume       continue from DIR/checkpoint.pt (same configuration)\n"
        "  --overwrite    replace the run DIR holds (without it, a finished run there is refused)\n"
        "  --no-progress  no progress bar\n"
        "keys and defaults (data_root: "
     << kDebianFashionMnist << " when not set):\n";
  std::istringstream defaults(m3::MoCoV3Config().to_yaml());
  for (std::string line; std::getline(defaults, line);) os << "  --" << line << "\n";
}

void print_training_summary(const m3::RunResult& result) {
  std::cerr << "iterations " << result.steps << ", pre-training " << std::fixed << std::setprecision(1)
            << result.train_seconds << " s, probe " << result.probe_seconds << " s\n";
  std::cerr << "gradient spikes:";
  if (result.spikes.empty()) std::cerr << " none";
  for (const auto& [group, count] : result.spikes) std::cerr << " " << group << "=" << count;
  std::cerr << "\n";
  if (result.knn >= 0) std::cerr << "kNN " << std::setprecision(2) << 100.0 * result.knn << "\n";
}

int train(int argc, char** argv) {
  engine::CommandLine cli("mocov3-train");
  cli.value("config", "YAML config")
      .value("out", "run folder")
      .flag("resume", "continue")
      .flag("overwrite", "replace a finished run in --out")
      .flag("no-progress", "no progress bar")
      .flag("help", "usage")
      .config_keys(m3::mocov3_flag_names(), m3::mocov3_bool_flag_names());
  const auto args = cli.parse(argc, argv);
  if (args.on("help")) {
    usage(std::cout);
    return 0;
  }
  m3::MoCoV3Config cfg;
  if (!args.get("config").empty()) m3::apply_mocov3_config_file(cfg, args.get("config"));
  m3::apply_mocov3_overrides(cfg, args.overrides);
  if (cfg.data_root.empty()) cfg.data_root = kDebianFashionMnist;
  cfg.validate();
  if (const auto launch = engine::LaunchEnvironment::from_process(); launch && launch->world_size > 1) {
    // Several copies would each train on the whole data and write into the same --out.
    throw std::invalid_argument("mocov3-train runs in one process: launched as rank " + std::to_string(launch->rank) +
                                " of " + std::to_string(launch->world_size) +
                                " (WORLD_SIZE); run it without torchrun, or with --nproc-per-node 1");
  }
  for (const auto& note : cfg.notes) std::cerr << "mocov3-train: " << note << "\n";
  if (cfg.num_threads > 0) torch::set_num_threads(static_cast<int>(cfg.num_threads));
  const std::string out = args.get("out", "runs/mocov3-" + cfg.dataset);
  for (const auto& line : engine::claim_output_dir(out, args.on("resume"), args.on("overwrite"))) {
    std::cout << line << std::endl;
  }
  const bool progress = !args.on("no-progress") && isatty(STDERR_FILENO) != 0;
  m3::RunOptions run;
  run.out = out;
  run.resume = args.on("resume");
  run.progress = progress;
  run.log = graphmae2::tools::console_log();
  const auto result = m3::run_mocov3(cfg, run);
  if (cfg.mode == m3::RunMode::train) print_training_summary(result);
  std::cout << cfg.dataset << "  linear-probe" << (cfg.mode == m3::RunMode::raw_pixels ? " (raw pixels)" : "") << " "
            << std::fixed << std::setprecision(1) << 100.0 * result.linear_probe << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  graphmae2::tools::exec_with_short_openmp_spin(argv);
  std::ostringstream text;
  usage(text);
  return graphmae2::tools::run_tool("mocov3-train", text.str(), [&] { return train(argc, argv); });
}
