// mocov3-train: MoCo v3 pre-training of a ViT on an IDX image set, then a linear probe on frozen features.
//
//   mocov3-train --config configs/mocov3-fashion-mnist.yaml [--out DIR] [--resume] [--KEY VALUE ...]
//
// Every config key is also a flag (--batch_size 128 or --batch-size=128); flags override the file.
// Exit codes: 0 done, 1 runtime failure (data, I/O), 2 bad command line or configuration.

#include "models/mocov3/config.h"
#include "models/mocov3/trainer.h"

#include <unistd.h>

#include <cstdio>
#include <iomanip>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace m3 = graphmae2::models::mocov3;

namespace {

void usage(std::ostream& os) {
  os << "usage: mocov3-train [--config FILE] [--out DIR] [--resume] [--KEY VALUE ...]\n"
        "  --config FILE  flat YAML map of the keys below (defaults < file < flags)\n"
        "  --out DIR      run folder: config.yaml, metrics.jsonl, checkpoint.pt, result.json\n"
        "                 (default: runs/mocov3-<dataset>)\n"
        "  --resume       continue from DIR/checkpoint.pt (same configuration)\n"
        "keys and defaults:\n";
  std::istringstream defaults(m3::MoCoV3Config().to_yaml());
  for (std::string line; std::getline(defaults, line);) os << "  --" << line << "\n";
}

bool looks_like_bool(const std::string& v) {
  for (const char* b : {"true", "false", "yes", "no", "on", "off", "1", "0"}) {
    if (v == b) return true;
  }
  return false;
}

struct Args {
  std::optional<std::string> config, out;
  bool resume = false;
  bool help = false;
  std::vector<std::pair<std::string, std::string>> overrides;
};

Args parse_args(int argc, char** argv) {
  Args a;
  std::set<std::string> seen;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument '" + arg + "' (flags start with --)");
    std::string key = arg.substr(2), value;
    bool has_value = false;
    if (const auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    for (auto& c : key) c = c == '-' ? '_' : c;
    if (key == "help" || key == "h") {
      a.help = true;
      continue;
    }
    if (!seen.insert(key).second) throw std::invalid_argument("command line: --" + key + " is given twice");
    if (key == "resume") {
      if (has_value) throw std::invalid_argument("command line: --resume takes no value");
      a.resume = true;
      continue;
    }
    const bool is_bool = m3::is_mocov3_bool_key(key);
    if (!has_value) {
      if (is_bool) {
        // A bare boolean flag means true; an explicit true/false may follow.
        if (i + 1 < argc && looks_like_bool(argv[i + 1])) {
          value = argv[++i];
        } else {
          value = "true";
        }
      } else {
        if (i + 1 >= argc) throw std::invalid_argument("command line: --" + key + " needs a value");
        value = argv[++i];
      }
    }
    if (key == "config") {
      a.config = value;
    } else if (key == "out") {
      a.out = value;
    } else {
      a.overrides.emplace_back(key, value);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  m3::MoCoV3Config cfg;
  try {
    args = parse_args(argc, argv);
    if (args.help) {
      usage(std::cout);
      return 0;
    }
    if (args.config) m3::apply_mocov3_config_file(cfg, *args.config);
    m3::apply_mocov3_overrides(cfg, args.overrides);
    cfg.validate();
    cfg.model_options(28, 1);  // checks the model keys early (image size is re-read from the data)
  } catch (const std::invalid_argument& e) {
    std::cerr << "mocov3-train: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "mocov3-train: configuration: " << e.what_without_backtrace() << "\n";
    return 2;
  }
  const std::string out = args.out.value_or("runs/mocov3-" + cfg.dataset);
  try {
    const auto result = m3::run_mocov3(cfg, out, args.resume, std::cerr, isatty(STDERR_FILENO) != 0);
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
  } catch (const c10::Error& e) {
    std::cerr << "mocov3-train: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mocov3-train: " << e.what() << "\n";
    return 1;
  }
}
