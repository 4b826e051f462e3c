#pragma once
// The one training loop of graphmae2. Every model (GraphMAE2 full-batch and mini-batch, MoCo v3) gives it a
// step function that returns a loss; the loop owns everything around it: lr and EMA-momentum schedules,
// EMA updates, backward, gradient clipping, the optimizer step, the NaN stop, metrics, progress,
// checkpoint cadence and bit-for-bit resume. Model-specific work goes into hooks.

#include "models/engine/checkpoint.h"
#include "models/engine/distributed.h"
#include "models/engine/log.h"
#include "models/engine/metrics_log.h"
#include "models/engine/progress.h"
#include "models/ssl/ema.h"

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace graphmae2::models::engine {

/// When the EMA teacher moves in a step.
enum class EmaTiming {
  before_backward,       ///< after the losses, before backward and the optimizer step (GraphMAE2's reference)
  after_optimizer_step,  ///< after the optimizer step (MoCo v3's reference)
};

/// @brief What one step computed: the loss backward runs on, and scalar terms to log with it.
struct StepOutput {
  torch::Tensor loss;
  /// Read on the host only on logging steps (LoopOptions::log_every).
  std::vector<std::pair<std::string, torch::Tensor>> terms;
};

/// @brief Where the loop stands in a step; hooks read it and add figures to `record`.
struct StepContext {
  int64_t step = 0;           ///< global step index (0-based)
  int64_t epoch = 0;          ///< step / steps_per_epoch
  int64_t step_in_epoch = 0;  ///< step % steps_per_epoch
  double lr = 0.0;
  double momentum = 0.0;  ///< EMA momentum of this step (whether or not the EMA runs yet)
  bool log = false;       ///< a logging step: the values below were read on the host
  double loss = std::numeric_limits<double>::quiet_NaN();
  std::map<std::string, double> terms;                          ///< the step's terms (logging steps)
  double grad_norm = std::numeric_limits<double>::quiet_NaN();  ///< before clipping (measure_grad_norm)
  double step_seconds = 0.0;                                    ///< wall time of the step (set before after_step)
  Json record;         ///< this step's metrics line, written after after_step on logging steps
  std::string status;  ///< the progress bar's text
};

/// @brief Model-specific work at fixed points of each step. Any may be empty; any may throw to stop training.
struct LoopHooks {
  std::function<void(StepContext&)> before_step;     ///< lr and momentum are set; nothing computed yet
  std::function<void(StepContext&)> after_backward;  ///< gradients exist, not yet clipped or applied
  std::function<void(StepContext&)> after_step;      ///< the optimizer stepped (and the EMA moved)
  /// After the last step of an epoch (complete) or when training stops inside one; before the epoch checkpoint.
  std::function<void(int64_t epoch, bool complete)> end_of_epoch;
};

/// Written into run_dir when the loss becomes NaN or infinite (JSON: step, loss, checkpoint_step or null); removed
/// by the first checkpoint of a resumed run. While it is there, --resume may change keys_free_after_divergence().
/// The loop keeps the checkpoint before the latest (checkpoint.prev.pt) until the run ends, so that a divergence
/// at a checkpoint's own step can fall back to weights that gave a finite loss; one that has none left is renamed
/// checkpoint.nonfinite.pt.
inline constexpr const char* kDivergedMarker = "diverged.json";
/// The config keys a resume of a diverged run may change: lr, weight_decay, max_grad_norm.
const std::vector<std::string>& keys_free_after_divergence();
/// Returns: true if run_dir holds kDivergedMarker.
bool run_diverged(const std::filesystem::path& run_dir);

/// Thrown when the loss becomes NaN or infinite (unless stop_on_divergence); the last finite checkpoint stays and
/// the message says how to continue from it with a lower lr.
struct TrainingDiverged : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Thrown after a first stop request (request_stop(): the tools' Ctrl-C / SIGTERM handler): the loop finished its
/// step and wrote a checkpoint; the message says where and how to continue. Tools exit 130.
struct TrainingInterrupted : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LoopOptions {
  std::string model_name;  ///< written into checkpoints; a checkpoint of another model is refused
  int64_t epochs = 1;
  int64_t steps_per_epoch = 1;
  int64_t max_steps = 0;                      ///< stop after this many steps (0: all); schedules keep their full length
  std::function<double(int64_t step)> lr_at;  ///< empty: the optimizer's lr stays as it is
  std::function<double(int64_t step)> momentum_at;  ///< empty: momentum 1 (the teacher never moves)
  int64_t ema_start_step = 0;                       ///< no EMA update before this step (GraphMAE2's delayed_ema_epoch)
  EmaTiming ema_timing = EmaTiming::after_optimizer_step;
  double max_grad_norm = 0.0;      ///< clip the global gradient norm (0: off)
  bool measure_grad_norm = false;  ///< compute the norm before clipping on logging steps (one host sync there)
  /// Loss values are copied to the host every log_every steps (and on the last); between them the loop never
  /// waits for the device. A NaN between logging steps is caught at the next one and before any checkpoint.
  int64_t log_every = 1;
  std::filesystem::path run_dir;  ///< checkpoint.pt and metrics.jsonl go here
  int64_t save_every_steps = 0;   ///< checkpoint cadence in steps (0: off)
  double save_every_minutes = 0;  ///< also a checkpoint once this much wall time passed since the last (0: off)
  /// A first request_stop() during run() (models/engine/stop_request.h) finishes the step, writes a checkpoint and
  /// throws TrainingInterrupted. false: run() does not take stop requests.
  bool take_stop_requests = true;
  std::string resume_hint;       ///< the command that continues the run, quoted on an interrupt
  bool save_each_epoch = false;  ///< checkpoint after every epoch
  bool resume = false;           ///< continue from run_dir/checkpoint.pt when it exists
  std::string config_yaml;       ///< stored in checkpoints
  std::string dataset;           ///< stored in checkpoints
  /// Called with a checkpoint's state before resuming from it: returns why it cannot continue this run ("" if it can).
  /// `after_divergence`: the run stopped on a NaN/inf loss (its run_dir holds kDivergedMarker), so the keys of
  /// keys_free_after_divergence() may differ too: that is how a diverged run continues with a lower lr.
  std::function<std::string(const CheckpointState&, bool after_divergence)> resume_guard;
  torch::Device device = torch::kCPU;  ///< where the model trains (its generator is checkpointed too)
  bool progress = true;
  std::string label = "train";
  bool stop_on_divergence = false;  ///< true: a NaN loss stops the loop (LoopResult::diverged); false: throws
  LogSink log;                      ///< where the loop's messages go (a resume's starting point, ...)
  /// The processes training together (null: this one alone). Every rank runs the same steps on its share of the
  /// batch: between backward and clipping the gradients are averaged over the ranks, in the same collective as
  /// the loss and the stop requests, so that every rank takes the same NaN, clipping and stop decisions (the
  /// step's loss must be the rank's share of the global loss, times the world size: see docs/distributed.md).
  /// The logged terms are averaged on logging steps. Only rank 0 writes checkpoints, metrics and the progress
  /// bar; every rank resumes from run_dir's checkpoint, and rank 0's weights are broadcast at the start.
  std::shared_ptr<const ProcessGroup> group;
};

struct LoopResult {
  int64_t start_step = 0;  ///< where this call started (> 0 after a resume)
  int64_t steps_done = 0;  ///< steps completed in all (including those before a resume)
  int64_t steps_run = 0;   ///< steps run in this call
  double seconds = 0.0;    ///< wall time of those steps
  bool diverged = false;
  Json last;  ///< the last metrics record written
};

/// @brief Runs steps of one model with one optimizer. Construct, optionally inspect start_step(), then run().
class TrainingLoop {
 public:
  /// `model` is what checkpoints hold; `params` the ones the optimizer updates (clipped, measured);
  /// `emas` the teachers the loop moves with the momentum schedule.
  TrainingLoop(LoopOptions options, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
               std::vector<torch::Tensor> params, std::vector<ssl::EmaUpdater*> emas = {});

  /// The step training starts from: 0, or the checkpoint's step when resuming (its weights, optimizer and
  /// generators are restored by the constructor, its metrics log cut to the checkpoint's size).
  int64_t start_step() const { return start_step_; }
  bool resumed() const { return resumed_; }
  int64_t total_steps() const { return options_.epochs * options_.steps_per_epoch; }
  /// The last step this run goes to (total_steps, or max_steps when smaller).
  int64_t stop_step() const;

  /// Runs the steps from start_step(); `step` computes the loss of one step (RNG draws included).
  LoopResult run(const std::function<StepOutput(StepContext&)>& step, const LoopHooks& hooks = {});

  MetricsLog& metrics() { return *metrics_; }
  ProgressBar& progress() { return *progress_; }
  const std::filesystem::path& checkpoint_path() const { return checkpoint_path_; }
  std::filesystem::path previous_checkpoint_path() const { return options_.run_dir / "checkpoint.prev.pt"; }
  /// Writes the checkpoint now (`steps_done` steps completed). Refuses to when a NaN was seen since the last check.
  void save(int64_t steps_done);

 private:
  // What run() carries from step to step.
  struct RunState {
    std::chrono::steady_clock::time_point last_save;
    bool saved_at_end = false;
    std::string last_status;  // the progress text of the last logging step
  };
  StepContext begin_step(int64_t step, int64_t stop_at, const LoopHooks& hooks);
  // Forward, EMA, backward, clipping and the optimizer step of one step. Returns false when the loss was not
  // finite and stop_on_divergence is set (then `result` says so); throws TrainingDiverged when it is not set.
  bool run_step(StepContext& ctx, const std::function<StepOutput(StepContext&)>& step_fn, const LoopHooks& hooks,
                LoopResult& result);
  // Reads the step's loss and terms on logging steps (the only host syncs); false when they are not finite.
  bool read_logged_figures(StepContext& ctx, const StepOutput& out, int64_t& first_bad_step);
  std::string divergence_message(const StepContext& ctx, int64_t first_bad_step, double loss);
  void write_logged_step(StepContext& ctx, LoopResult& result, RunState& state);
  // The cadence and timed checkpoints after `step` steps, and a requested stop.
  void checkpoint_if_due(int64_t step, int64_t stop_at, RunState& state);
  void stop_if_requested(int64_t step, int64_t stop_at, const RunState& state);
  void track_nonfinite(const torch::Tensor& loss, int64_t step);
  // Averages the gradients, the loss and the logged terms over the ranks, with this rank's stop request (one
  // collective for the gradients and these figures; the terms only on logging steps); returns whether any rank
  // asked to stop.
  bool reduce_over_ranks(const StepContext& ctx, StepOutput& out);
  bool is_main() const { return !options_.group || options_.group->is_main(); }
  bool distributed() const { return options_.group && options_.group->world_size() > 1; }
  std::string kept_checkpoint() const;  // what a divergence leaves: the checkpoint and its step, or that there is none
  // Records the divergence (kDivergedMarker) and returns the full message: what happened, the kept checkpoint and
  // how to continue from it.
  // `first_bad_step`: the first step whose loss was not finite. A checkpoint at that step holds the weights that
  // gave it: it is replaced by the one before it (checkpoint.prev.pt), or set aside when there is none.
  std::string record_divergence(const std::string& what, int64_t first_bad_step, double loss);
  // The first step since the last check whose loss was NaN/inf, or -1; clears the record (host sync).
  int64_t take_first_nonfinite_step();

  LoopOptions options_;
  torch::nn::Module& model_;
  torch::optim::Optimizer& optimizer_;
  std::vector<torch::Tensor> params_;
  std::vector<ssl::EmaUpdater*> emas_;
  std::filesystem::path checkpoint_path_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<ProgressBar> progress_;
  int64_t start_step_ = 0;
  bool resumed_ = false;
  bool resumed_after_divergence_ = false;  // the marker goes at this run's first checkpoint
  torch::Tensor first_nonfinite_;          // device int64: first step since the last host check with a NaN/inf loss
  bool stop_agreed_ = false;               // several ranks: some rank asked to stop in this step
};

/// Cosine decay over `total`: base * (1 + cos(pi * step / total)) / 2 (the reference's per-epoch scheduler).
double cosine_decay(double base, int64_t step, int64_t total);
/// Linear warm-up from 0 over `warmup` then a half-cosine to 0 at `total` (MoCo v3's adjust_learning_rate);
/// `t` may be fractional (epoch + iteration / iterations per epoch).
double warmup_cosine(double base, double t, double warmup, double total);

}  // namespace graphmae2::models::engine
