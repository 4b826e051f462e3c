// mocov3-train: MoCo v3 pre-training of a ViT on an IDX image set, then a linear probe on frozen features.
//
//   mocov3-train --config configs/mocov3-fashion-mnist.yaml [--out DIR] [--resume] [--KEY VALUE ...]
//
// Every config key is also a flag (--batch_size 128 or --batch_size=128); flags override the file.
// Exit codes: 0 done, 1 runtime failure (data, I/O), 2 bad command line or configuration.

#include "models/engine/cli.h"
#include "models/engine/loop.h"
#include "models/engine/openmp_wait.h"
#include "models/mocov3/config.h"
#include "models/mocov3/experiment.h"

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

}  // namespace

int main(int argc, char** argv) {
  graphmae2::models::engine::exec_with_short_openmp_spin(argv);
  engine::ParsedArgs args;
  m3::MoCoV3Config cfg;
  try {
    engine::CommandLine cli("mocov3-train");
    cli.value("config", "YAML config").value("out", "run folder").flag("resume", "continue")
        .flag("overwrite", "replace a finished run in --out")
        .flag("no-progress", "no progress bar").flag("help", "usage")
        .config_keys(m3::mocov3_config_keys(), m3::mocov3_bool_keys());
    args = cli.parse(argc, argv);
    if (args.on("help")) {
      usage(std::cout);
      return 0;
    }
    if (!args.get("config").empty()) m3::apply_mocov3_config_file(cfg, args.get("config"));
    m3::apply_mocov3_overrides(cfg, args.overrides);
    if (cfg.data_root.empty()) cfg.data_root = kDebianFashionMnist;
    cfg.validate();
    engine::claim_output_dir(args.get("out", "runs/mocov3-" + cfg.dataset), args.on("resume"), args.on("overwrite"));
  } catch (const std::invalid_argument& e) {
    std::cerr << "mocov3-train: " << e.what() << "\n";
    return 2;
  }
  const std::string out = args.get("out", "runs/mocov3-" + cfg.dataset);
  try {
    const bool progress = !args.on("no-progress") && isatty(STDERR_FILENO) != 0;
    const auto result = m3::run_mocov3(cfg, out, args.on("resume"), progress);
    if (cfg.mode == "train") {
      std::cerr << "iterations " << result.steps << ", pre-training " << std::fixed << std::setprecision(1)
                << result.train_seconds << " s, probe " << result.probe_seconds << " s"
                << (result.diverged ? ", DIVERGED" : "") << "\n";
      std::cerr << "gradient spikes:";
      if (result.spikes.empty()) std::cerr << " none";
      for (const auto& [group, count] : result.spikes) std::cerr << " " << group << "=" << count;
      std::cerr << "\n";
      if (result.knn >= 0) std::cerr << "kNN " << std::setprecision(2) << 100.0 * result.knn << "\n";
    }
    std::cout << cfg.dataset << "  linear-probe" << (cfg.mode == "raw-pixels" ? " (raw pixels)" : "") << " "
              << std::fixed << std::setprecision(1) << 100.0 * result.linear_probe << std::endl;
    return 0;
  } catch (const std::invalid_argument& e) {
    std::cerr << "mocov3-train: " << e.what() << "\n";
    return 2;
  } catch (const engine::TrainingInterrupted& e) {
    std::cerr << "\n" << e.what() << std::endl;
    return 130;
  } catch (const c10::Error& e) {
    std::cerr << "mocov3-train: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mocov3-train: " << e.what() << "\n";
    return 1;
  }
}
