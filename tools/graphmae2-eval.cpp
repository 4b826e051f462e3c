// graphmae2-eval: node-classification accuracy of a pretrained GraphMAE2 (checkpoint) or of saved embeddings.

#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "models/engine/checkpoint.h"
#include "models/engine/cli.h"
#include "models/engine/openmp_wait.h"
#include "models/engine/progress.h"
#include "models/eval/finetune.h"
#include "models/eval/linear_probe.h"
#include "models/graphmae2/config.h"
#include "models/graphmae2/experiment.h"
#include "models/graphmae2/trainer.h"

#include <filesystem>
#include <iomanip>
#include <map>
#include <sstream>
#include <iostream>

namespace engine = graphmae2::models::engine;
namespace gm = graphmae2::models::graphmae2;
namespace eval = graphmae2::models::eval;

namespace {

const char* kUsage = R"(usage: graphmae2-eval --dataset NAME (--checkpoint FILE.pt | --embeddings FILE.h5) [--mode linear|finetune]
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

}  // namespace

int main(int argc, char** argv) {
  graphmae2::models::engine::exec_with_short_openmp_spin(argv);
  try {
    engine::CommandLine cli("graphmae2-eval");
    cli.value("dataset", "dataset").value("checkpoint", "checkpoint").value("embeddings", "embeddings .h5")
        .value("mode", "linear or finetune").value("seeds", "probe seeds").value("data-root", "dataset root").value("split", "OGB split folder")
        .flag("help", "usage").flag("no-progress", "no progress bar")
        .config_keys({"lr_f", "weight_decay_f", "max_epoch_f"}, {});
    const auto args = cli.parse(argc, argv);
    auto flag = [&](const std::string& n) { return args.get(n); };
    if (flag("help") == "true") {
      std::cout << kUsage;
      return 0;
    }
    if (flag("dataset").empty()) throw engine::UsageError("--dataset is required");
    if (flag("checkpoint").empty() == flag("embeddings").empty()) {
      throw engine::UsageError("give exactly one of --checkpoint and --embeddings");
    }
    const std::string mode = flag("mode");
    if (!mode.empty() && mode != "linear" && mode != "finetune") {
      throw engine::UsageError("--mode must be linear or finetune, got '" + mode + "'");
    }
    if (mode == "finetune" && flag("checkpoint").empty()) throw engine::UsageError("--mode finetune needs --checkpoint");

    const auto root = graphmae2::datasets::resolve_data_root(
        flag("data-root").empty() ? std::nullopt : std::optional<std::string>(flag("data-root")));
    graphmae2::datasets::LoadOptions load;
    load.split = flag("split");
    auto data = graphmae2::datasets::load_node_dataset(flag("dataset"), root, load);

    gm::GraphMAE2Config cfg;
    const auto seeds = engine::parse_seeds(flag("seeds").empty() ? "0-9" : flag("seeds"));
    torch::Tensor embeddings;
    if (!flag("checkpoint").empty()) {
      const auto state = engine::read_checkpoint_state(flag("checkpoint"), "graphmae2");
      cfg.apply_text(state.config_yaml, flag("checkpoint"));
      if (cfg.dataset != flag("dataset")) {
        throw std::invalid_argument(flag("checkpoint") + " was trained on '" + cfg.dataset + "', not on '" +
                                    flag("dataset") + "'");
      }
    } else {
      const std::string file = flag("embeddings");
      // The probe settings the embeddings were trained with, as for a checkpoint; flags still override them.
      if (const auto trained = gm::embeddings_config(file)) {
        cfg = *trained;
        if (!cfg.dataset.empty() && cfg.dataset != flag("dataset")) {
          throw std::invalid_argument(file + " holds embeddings of '" + cfg.dataset + "', not of '" + flag("dataset") + "'");
        }
      } else {
        std::cout << file << " records no training config: the default probe settings apply" << std::endl;
      }
      embeddings = graphmae2::datasets::read_h5_tensor(file, "embeddings").to(torch::kFloat32);
      // node_ids: the nodes the rows belong to (an lc run embeds its ego-graph seeds only); absent: every node.
      const auto node_ids = graphmae2::datasets::h5_has(file, "node_ids")
                                ? graphmae2::datasets::read_h5_tensor(file, "node_ids").to(torch::kLong)
                                : torch::arange(data.num_nodes(), torch::kLong);
      if (node_ids.dim() != 1 || embeddings.dim() != 2 || embeddings.size(0) != node_ids.size(0)) {
        throw std::invalid_argument(file + ": embeddings have shape " + c10::str(embeddings.sizes()) + " for " +
                                    std::to_string(node_ids.numel()) + " node ids (" + data.name + " has " +
                                    std::to_string(data.num_nodes()) + " nodes)");
      }
      if (node_ids.numel() > 0 && (node_ids.min().item<int64_t>() < 0 || node_ids.max().item<int64_t>() >= data.num_nodes())) {
        throw std::invalid_argument(file + ": node_ids go outside 0.." + std::to_string(data.num_nodes() - 1) +
                                    ": the embeddings are not of " + data.name);
      }
      data.labels = data.labels.index_select(0, node_ids);
      data.train_mask = data.train_mask.index_select(0, node_ids);
      data.val_mask = data.val_mask.index_select(0, node_ids);
      data.test_mask = data.test_mask.index_select(0, node_ids);
    }
    cfg.apply_overrides(args.overrides);
    if (!flag("mode").empty()) cfg.linear_prob = mode == "linear";
    cfg.validate();
    const std::string protocol = cfg.linear_prob ? "linear-probe" : "fine-tune";

    const int64_t epochs_per_seed = cfg.probe_options(0).max_epoch;
    engine::ProgressBar bar(data.name + " " + protocol, static_cast<int64_t>(seeds.size()) * epochs_per_seed,
                            flag("no-progress") != "true", 0);
    std::map<int64_t, int64_t> seed_index;
    for (size_t k = 0; k < seeds.size(); ++k) seed_index[seeds[k]] = static_cast<int64_t>(k);
    const auto on_epoch = [&](int64_t seed, int64_t epoch) {
      bar.update(seed_index.at(seed) * epochs_per_seed + epoch + 1, "seed " + std::to_string(seed));
    };
    std::vector<eval::ProbeResult> results;
    if (!flag("checkpoint").empty()) {
      // Embedded and probed as the run did (whole graph, layer-wise, or each seed in its LC ego-graph, whose
      // file is read from the run's folder or lc_file, or computed and cached in the run's folder).
      gm::ExperimentOptions options;
      options.out_dir = std::filesystem::path(flag("checkpoint")).parent_path().parent_path();
      options.progress = flag("no-progress") != "true";
      results = gm::probe_checkpoint(cfg, data, flag("checkpoint"), seeds, options, on_epoch);
    } else {
      for (const int64_t seed : seeds) {
        auto popt = cfg.probe_options(static_cast<uint64_t>(seed));
        popt.on_epoch = [&, seed](int64_t epoch) { on_epoch(seed, epoch); };
        results.push_back(eval::linear_probe(embeddings, data.labels, data.num_classes, data.train_mask,
                                             data.val_mask, data.test_mask, popt));
      }
    }
    std::vector<double> best, last;
    for (size_t k = 0; k < seeds.size(); ++k) {
      const auto& r = results[k];
      best.push_back(100 * r.test_acc);
      last.push_back(100 * r.final_test_acc);
      std::ostringstream line;
      line << std::fixed << std::setprecision(2) << "seed " << seeds[k] << ": test " << 100 * r.test_acc
           << " (best val " << 100 * r.best_val_acc << "), last-epoch test " << 100 * r.final_test_acc;
      bar.message(line.str(), std::cout);
    }
    bar.finish();
    auto [m, s] = gm::mean_std(best);
    auto [lm, ls] = gm::mean_std(last);
    std::cout << std::fixed << std::setprecision(1) << data.name << "  " << protocol << " (last epoch) " << lm << " ± "
              << ls << "\n"
              << data.name << "  " << protocol << " " << m << " ± " << s << " (" << best.size() << " seeds)" << std::endl;
    return 0;
  } catch (const engine::UsageError& e) {
    std::cerr << "graphmae2-eval: " << e.what() << "\n\n" << kUsage;
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "graphmae2-eval: error: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "graphmae2-eval: error: " << e.what() << "\n";
    return 1;
  }
}
