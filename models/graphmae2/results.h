#pragma once
// What a GraphMAE2 run reports: each seed's outcome, the mean and spread over seeds, the summary line the tools
// print and the result.json they write.

#include "models/eval/linear_probe.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace graphmae2::models::graphmae2 {

/// The first attempt of a seed that on_collapse retry stopped at a collapse flag.
struct CollapsedAttempt {
  int64_t epoch = 0;                      ///< the epoch whose diagnostics raised the flag; training stopped there
  std::map<std::string, double> figures;  ///< that epoch's figures (losses, effective_rank, mean_cosine, ...)
  std::vector<std::string> warnings;      ///< the flags it raised
  std::filesystem::path dir;              ///< where its checkpoint and metrics were kept (seed<k>-collapsed)
  /// What the retry changed: "input_skip=true feature_norm=standard self_reconstruction=1".
  std::string remedy;
};

struct SeedOutcome {
  int64_t seed = 0;
  eval::ProbeResult probe;
  double train_seconds = 0;
  int64_t epochs_run = 0;
  std::string train_span;             ///< TrainResult::span(), for the summary lines
  std::vector<std::string> warnings;  ///< diagnostics flags raised during training
  /// Set when on_collapse retry restarted this seed: the stopped attempt (the figures above are the retry's).
  std::optional<CollapsedAttempt> collapsed_attempt;
};

/// @brief Probe accuracies over seeds, as the reference reports them.
struct ProbeSummary {
  std::string dataset;
  std::string protocol;                  ///< "linear-probe", "fine-tune", or "pre-training" (not evaluated)
  double mean = 0, std = 0;              ///< test accuracy (%) at the best validation epoch, over seeds
  double final_mean = 0, final_std = 0;  ///< test accuracy (%) after the last probe epoch
  int64_t num_seeds = 0;
  /// Sets the figures above from one probe result per seed.
  void summarise(const std::vector<eval::ProbeResult>& probes);
  /// "cora  linear-probe 84.3 ± 0.5 (10 seeds)".
  std::string line() const;
  /// "cora  linear-probe (last epoch) 84.1 ± 0.6".
  std::string last_epoch_line() const;
};

struct ExperimentResult : ProbeSummary {
  std::vector<SeedOutcome> seeds;
  int world_size = 1;            ///< processes that pre-trained together
  std::string backend = "none";  ///< their collectives' backend ("gloo"), "none" for one process
  /// ProbeSummary::line(), then for each retried seed "; seed 0 retried with input_skip=true
  /// feature_norm=standard self_reconstruction=1 after a collapse at epoch 0 (effective_rank 1.0,
  /// mean_cosine 0.9994)".
  std::string summary_line() const;
  /// The result.json of a run: the summary, per-seed accuracies, training times, warnings and retries.
  std::string to_json() const;
};

/// Mean and population standard deviation (numpy's default), as the reference reports them.
std::pair<double, double> mean_std(const std::vector<double>& values);

/// "seed 0: test 84.30 (best val 82.00 at probe epoch 120), last-epoch test 84.10": one seed's probe.
std::string probe_line(int64_t seed, const eval::ProbeResult& probe);

}  // namespace graphmae2::models::graphmae2
