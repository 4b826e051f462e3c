// graphmae2-eval: node-classification accuracy of a pretrained GraphMAE2 (checkpoint) or of saved embeddings.

#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "models/eval/finetune.h"
#include "models/eval/linear_probe.h"
#include "models/train/checkpoint.h"
#include "models/train/cli.h"
#include "models/train/config.h"
#include "models/train/experiment.h"
#include "models/train/trainer.h"

#include <iomanip>
#include <iostream>

namespace train = graphmae2::models::train;
namespace eval = graphmae2::models::eval;

namespace {

const char* kUsage = R"(usage: graphmae2-eval --dataset NAME (--checkpoint FILE.pt | --embeddings FILE.h5) [--mode linear|finetune]
                      [--seeds 0-9] [--data-root DIR] [--lr_f X] [--weight_decay_f X] [--max_epoch_f N]

  --checkpoint FILE   a graphmae2-train checkpoint (OUT/seed<k>/checkpoint.pt); its stored config rebuilds the model
  --embeddings FILE   an .h5 with a float [N, D] dataset "embeddings" (graphmae2-train writes OUT/embeddings_seed<k>.h5)
  --mode              linear (default): logistic regression on frozen embeddings; finetune: encoder + head end to end
  --seeds LIST        probe seeds; prints mean ± std over them (default 0-9)
  probe settings default to the checkpoint's config (lr_f, weight_decay_f, max_epoch_f); flags override them
)";

}  // namespace

int main(int argc, char** argv) {
  try {
    auto is_probe_key = [](const std::string& k) { return k == "lr_f" || k == "weight_decay_f" || k == "max_epoch_f"; };
    static bool (*probe_key)(const std::string&) = +is_probe_key;
    auto args = train::parse_args(argc, argv, {"dataset", "checkpoint", "embeddings", "mode", "seeds", "data-root"},
                                  {"help"}, probe_key, nullptr);
    auto flag = [&](const std::string& n) { return args.tool.count(n) ? args.tool.at(n) : std::string(); };
    if (flag("help") == "true") {
      std::cout << kUsage;
      return 0;
    }
    if (flag("dataset").empty()) throw train::UsageError("--dataset is required");
    if (flag("checkpoint").empty() == flag("embeddings").empty()) {
      throw train::UsageError("give exactly one of --checkpoint and --embeddings");
    }
    const std::string mode = flag("mode").empty() ? "linear" : flag("mode");
    if (mode != "linear" && mode != "finetune") throw train::UsageError("--mode must be linear or finetune, got '" + mode + "'");
    if (mode == "finetune" && flag("checkpoint").empty()) throw train::UsageError("--mode finetune needs --checkpoint");

    const auto root = graphmae2::datasets::resolve_data_root(
        flag("data-root").empty() ? std::nullopt : std::optional<std::string>(flag("data-root")));
    auto data = graphmae2::datasets::load_node_dataset(flag("dataset"), root);

    train::TrainConfig cfg;
    torch::Tensor embeddings;
    train::PreparedGraph input;
    graphmae2::models::graphmae2::GraphMAE2 model{nullptr};
    if (!flag("checkpoint").empty()) {
      train::apply_config_text(cfg, train::read_checkpoint_config(flag("checkpoint")), flag("checkpoint"));
      input = train::prepare_inputs(data, cfg);
      model = train::build_model(cfg, data.feature_dim(), train::resolve_zero_init(cfg, data.name));
      train::load_checkpoint(flag("checkpoint"), *model, nullptr);
      embeddings = train::embed(model, input);
    } else {
      embeddings = graphmae2::datasets::read_h5_tensor(flag("embeddings"), "embeddings").to(torch::kFloat32);
      if (embeddings.dim() != 2 || embeddings.size(0) != data.num_nodes()) {
        throw std::invalid_argument(flag("embeddings") + ": embeddings have shape " + c10::str(embeddings.sizes()) +
                                    " but " + data.name + " has " + std::to_string(data.num_nodes()) + " nodes");
      }
    }
    train::apply_overrides(cfg, args.overrides);
    cfg.validate();

    std::vector<double> best, last;
    for (int64_t seed : train::parse_seeds(flag("seeds").empty() ? "0-9" : flag("seeds"))) {
      eval::ProbeOptions popt{cfg.lr_f, cfg.weight_decay_f, cfg.max_epoch_f, static_cast<uint64_t>(seed)};
      auto r = mode == "linear"
                   ? eval::linear_probe(embeddings, data.labels, data.num_classes, data.train_mask, data.val_mask,
                                        data.test_mask, popt)
                   : eval::finetune(model->encoder, input.graph, input.features, data.labels, data.num_classes,
                                    data.train_mask, data.val_mask, data.test_mask, popt);
      best.push_back(100 * r.test_acc);
      last.push_back(100 * r.final_test_acc);
      std::cout << std::fixed << std::setprecision(2) << "seed " << seed << ": test " << 100 * r.test_acc
                << " (best val " << 100 * r.best_val_acc << "), last-epoch test " << 100 * r.final_test_acc << "\n";
    }
    auto [m, s] = train::mean_std(best);
    auto [lm, ls] = train::mean_std(last);
    const std::string protocol = mode == "linear" ? "linear-probe" : "fine-tune";
    std::cout << std::fixed << std::setprecision(1) << data.name << "  " << protocol << " (last epoch) " << lm << " ± "
              << ls << "\n"
              << data.name << "  " << protocol << " " << m << " ± " << s << " (" << best.size() << " seeds)" << std::endl;
    return 0;
  } catch (const train::UsageError& e) {
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
