#pragma once
// A MoCo v3 experiment (moco-v3 main_moco.py) on the engine's loop: the step (two views, contrastive loss),
// its per-iteration schedules, the gradient and kNN monitors, and the final linear probe.

#include "models/mocov3/config.h"

#include <filesystem>
#include <map>
#include <string>

namespace graphmae2::models::mocov3 {

/// @brief What a run measured.
struct RunResult {
  double linear_probe = 0.0;  ///< test accuracy of the linear probe, in [0, 1]
  double knn = -1.0;          ///< last kNN monitor accuracy (-1: none ran)
  int64_t steps = 0;          ///< iterations done (including those before a resume)
  double train_seconds = 0.0; ///< wall time of pre-training in this process
  double probe_seconds = 0.0; ///< wall time of feature extraction + probe
  bool diverged = false;      ///< the loss became NaN or infinite and training stopped
  std::map<std::string, int64_t> spikes;  ///< gradient spikes per group (this process)
};

/// Runs `cfg` (validated here) writing into `out`: config.yaml (resolved), metrics.jsonl (one JSON object per
/// iteration, epoch and the final result), checkpoint.pt (atomically replaced), result.json.
/// resume: continue from out/checkpoint.pt (which must exist), written with the same configuration (threads,
/// knn and probe settings may differ). `progress`: a progress bar on stderr.
/// Throws std::invalid_argument for configuration problems, std::runtime_error / c10::Error otherwise.
RunResult run_mocov3(const MoCoV3Config& cfg, const std::filesystem::path& out, bool resume, bool progress);

}  // namespace graphmae2::models::mocov3
