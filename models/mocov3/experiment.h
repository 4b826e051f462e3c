#pragma once
// A MoCo v3 experiment (moco-v3 main_moco.py) on the engine's loop: the step (two views, contrastive loss),
// its per-iteration schedules, the gradient and kNN monitors, and the final linear probe.

#include "models/engine/log.h"
#include "models/mocov3/config.h"

#include <filesystem>
#include <map>
#include <string>

namespace graphmae2::models::mocov3 {

/// @brief What a run measured.
struct RunResult {
  double linear_probe = 0.0;              ///< test accuracy of the linear probe, in [0, 1]
  double knn = -1.0;                      ///< last kNN monitor accuracy (-1: none ran)
  int64_t steps = 0;                      ///< iterations done (including those before a resume)
  double train_seconds = 0.0;             ///< wall time of pre-training in this process
  double probe_seconds = 0.0;             ///< wall time of feature extraction + probe
  std::map<std::string, int64_t> spikes;  ///< gradient spikes per group (this process)
};

/// @brief How run_mocov3 runs: where it writes, whether it resumes, where its messages go. The run sets no
/// process-wide state: its draws come from cfg.seed inside an engine::SeedScope, and the program sets the thread
/// count (cfg.num_threads) itself.
struct RunOptions {
  std::filesystem::path out;  ///< the run folder
  bool resume = false;        ///< continue from out/checkpoint.pt (which must exist)
  bool progress = false;      ///< the training loop's progress bar on stderr
  /// The lines a tool shows: the data, the model, each epoch's figures, a resume. Empty: none.
  engine::LogSink log;
};

/// Runs `cfg` (validated here) writing into options.out: config.yaml (resolved), metrics.jsonl (one JSON object
/// per iteration, epoch and the final result), checkpoint.pt (atomically replaced), result.json.
/// Resuming continues from out/checkpoint.pt, written with the same configuration (keys not affecting training,
/// mocov3_keys_not_affecting_training(), may differ; after a divergence also lr and weight_decay).
/// Throws std::invalid_argument for configuration problems, engine::TrainingDiverged when the loss becomes NaN
/// or infinite (the last finite checkpoint stays; nothing is probed), engine::TrainingInterrupted on a stop
/// request, std::runtime_error / c10::Error otherwise.
RunResult run_mocov3(const MoCoV3Config& cfg, const RunOptions& options);

}  // namespace graphmae2::models::mocov3
