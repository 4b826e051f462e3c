#include "models/engine/loop.h"

#include "models/engine/grad_norm.h"
#include "models/engine/stop_request.h"

#include "util/atomic_file.h"
#include "util/stopwatch.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

namespace graphmae2::models::engine {

double cosine_decay(double base, int64_t step, int64_t total) {
  if (total <= 0) return base;
  return base * (1.0 + std::cos(M_PI * static_cast<double>(step) / static_cast<double>(total))) * 0.5;
}

double warmup_cosine(double base, double t, double warmup, double total) {
  if (t < warmup) return base * t / warmup;
  const double span = total - warmup;
  if (span <= 0.0) return base;
  return base * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, (t - warmup) / span)));
}

const std::vector<std::string>& keys_free_after_divergence() {
  static const std::vector<std::string> keys{"lr", "weight_decay", "max_grad_norm"};
  return keys;
}

bool run_diverged(const std::filesystem::path& run_dir) { return std::filesystem::exists(run_dir / kDivergedMarker); }

namespace {

using Clock = std::chrono::steady_clock;
using util::seconds_since;

constexpr int64_t kNoNonfiniteStep = std::numeric_limits<int64_t>::max();

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace

TrainingLoop::TrainingLoop(LoopOptions options, torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                           std::vector<torch::Tensor> params, std::vector<ssl::EmaUpdater*> emas)
    : options_(std::move(options)),
      model_(model),
      optimizer_(optimizer),
      params_(std::move(params)),
      emas_(std::move(emas)) {
  TORCH_CHECK(options_.epochs >= 0, "TrainingLoop: epochs must be >= 0, got ", options_.epochs);
  TORCH_CHECK(options_.steps_per_epoch >= 1, "TrainingLoop: steps_per_epoch must be >= 1, got ",
              options_.steps_per_epoch);
  TORCH_CHECK(options_.max_steps >= 0, "TrainingLoop: max_steps must be >= 0, got ", options_.max_steps);
  TORCH_CHECK(options_.log_every >= 1, "TrainingLoop: log_every must be >= 1, got ", options_.log_every);
  TORCH_CHECK(!options_.run_dir.empty(), "TrainingLoop: run_dir is empty");
  std::filesystem::create_directories(options_.run_dir);
  checkpoint_path_ = options_.run_dir / "checkpoint.pt";
  int64_t keep_metrics = -1;
  if (options_.resume && std::filesystem::exists(checkpoint_path_)) {
    // The state is checked before anything is loaded: a refused checkpoint changes nothing.
    const auto state = read_checkpoint_state(checkpoint_path_, options_.model_name);
    const bool after_divergence = run_diverged(options_.run_dir);
    if (options_.resume_guard) {
      const auto why = options_.resume_guard(state, after_divergence);
      if (!why.empty()) throw std::invalid_argument("--resume: " + checkpoint_path_.string() + ": " + why);
    }
    if (after_divergence) {
      log_info(options_.log, options_.label + ": resuming the diverged run from its last finite checkpoint (step " +
                                 std::to_string(state.step) + ")");
    }
    resumed_after_divergence_ = after_divergence;
    const auto loaded = load_checkpoint(checkpoint_path_, options_.model_name, model_, &optimizer_, options_.device);
    start_step_ = loaded.step;
    if (loaded.cpu_rng.defined()) set_cpu_rng_state(loaded.cpu_rng);
    if (options_.device.is_cuda() && loaded.cuda_rng.defined()) set_device_rng_state(options_.device, loaded.cuda_rng);
    keep_metrics = loaded.metrics_bytes;
    resumed_ = true;
  } else if (options_.resume) {
    log_info(options_.log, options_.label + ": --resume found no checkpoint at " + checkpoint_path_.string() +
                               ": starting from scratch");
  }
  if (distributed()) {
    // Every rank starts from rank 0's weights, whatever each one initialised or read.
    const auto state = model_.parameters();
    std::vector<torch::Tensor> values(state.begin(), state.end());
    for (const auto& b : model_.buffers()) values.push_back(b);
    torch::NoGradGuard no_grad;
    options_.group->broadcast_(values, 0, "the model's weights");
    const int64_t earliest = options_.group->all_reduce_min(start_step_, "the start step");
    TORCH_CHECK(earliest == start_step_, "TrainingLoop: rank ", options_.group->rank(), " resumes from step ",
                start_step_, " but another rank from step ", earliest,
                ": every rank must read the same run directory (a shared file system on several machines)");
  }
  metrics_ = is_main() ? std::make_unique<MetricsLog>(options_.run_dir / "metrics.jsonl", keep_metrics)
                       : std::make_unique<MetricsLog>();
  progress_ = std::make_unique<ProgressBar>(options_.label, stop_step(), options_.progress && is_main());
}

bool TrainingLoop::reduce_over_ranks(const StepContext& ctx, StepOutput& out) {
  std::vector<torch::Tensor> tensors;
  tensors.reserve(params_.size() + 1);
  for (auto& p : params_) {
    // A parameter without a gradient on this rank may have one on another: the buckets must match.
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    tensors.push_back(p.grad());
  }
  std::vector<torch::Tensor> figures{out.loss.detach().reshape({1}),
                                     torch::full({1}, stop_requested() ? 1.0 : 0.0, out.loss.options())};
  if (ctx.log) {
    for (const auto& term : out.terms) figures.push_back(term.second.detach().reshape({1}).to(out.loss.options()));
  }
  auto packed = torch::cat(figures).to(params_.empty() ? out.loss.scalar_type() : params_.front().scalar_type());
  tensors.push_back(packed);
  options_.group->all_reduce_mean_(tensors, "the gradients of step " + std::to_string(ctx.step));
  out.loss = packed[0];
  if (ctx.log) {
    for (size_t i = 0; i < out.terms.size(); ++i) out.terms[i].second = packed[static_cast<int64_t>(i) + 2];
  }
  return packed[1].item<double>() > 0.0;  // host read: the all-reduce already waited for every rank
}

std::string TrainingLoop::kept_checkpoint() const {
  if (!std::filesystem::exists(checkpoint_path_)) {
    return "no checkpoint was written before it (save_every, save_every_minutes set the cadence)";
  }
  return "the last good checkpoint, step " + std::to_string(read_checkpoint_state(checkpoint_path_, "").step) +
         ", is kept at " + checkpoint_path_.string();
}

std::string TrainingLoop::record_divergence(const std::string& what, int64_t first_bad_step, double loss) {
  if (!is_main()) {
    return what + " (the loss averaged over the ranks); rank 0 keeps the last finite checkpoint and says where";
  }
  if (std::filesystem::exists(checkpoint_path_) && read_checkpoint_state(checkpoint_path_, "").step >= first_bad_step) {
    const auto previous = previous_checkpoint_path();
    if (std::filesystem::exists(previous) && read_checkpoint_state(previous, "").step < first_bad_step) {
      std::filesystem::rename(previous, checkpoint_path_);
    } else {
      std::filesystem::rename(checkpoint_path_, options_.run_dir / "checkpoint.nonfinite.pt");
    }
  }
  const bool kept = std::filesystem::exists(checkpoint_path_);
  nlohmann::json marker{{"step", first_bad_step},
                        {"loss", std::isfinite(loss) ? nlohmann::json(loss) : nlohmann::json(std::to_string(loss))}};
  marker["checkpoint_step"] =
      kept ? nlohmann::json(read_checkpoint_state(checkpoint_path_, "").step) : nlohmann::json();
  util::atomic_write_text(options_.run_dir / kDivergedMarker, marker.dump() + "\n");
  std::string message = what + "; " + kept_checkpoint() + ". ";
  message += kept ? "Continue from it with a lower lr: the same command with --resume and a smaller --lr (lr, "
                    "weight_decay and max_grad_norm may change when resuming a diverged run)"
                  : "Lower lr, set max_grad_norm, or check the input features";
  return message;
}

int64_t TrainingLoop::stop_step() const {
  return options_.max_steps > 0 ? std::min(total_steps(), options_.max_steps) : total_steps();
}

void TrainingLoop::track_nonfinite(const torch::Tensor& loss, int64_t step) {
  // Kept on the device between logging steps (no host sync): the smallest step with a NaN/inf loss, or kNone.
  const auto here = torch::where(loss.detach().isfinite().logical_not().reshape({}), step, kNoNonfiniteStep);
  first_nonfinite_ = first_nonfinite_.defined() ? torch::minimum(first_nonfinite_, here) : here;
}

int64_t TrainingLoop::take_first_nonfinite_step() {
  // host sync: logging steps and checkpoints
  const int64_t first = first_nonfinite_.defined() ? first_nonfinite_.item<int64_t>() : kNoNonfiniteStep;
  first_nonfinite_ = torch::Tensor();
  return first == kNoNonfiniteStep ? -1 : first;
}

void TrainingLoop::save(int64_t steps_done) {
  if (const int64_t first = take_first_nonfinite_step(); first >= 0) {
    throw TrainingDiverged(record_divergence("a loss between logging steps became NaN or infinite at step " +
                                                 std::to_string(first) + " (epoch " +
                                                 std::to_string(first / options_.steps_per_epoch) + ")",
                                             first, std::nan("")));
  }
  if (!is_main()) return;  // rank 0 writes the run's checkpoints
  const auto previous = previous_checkpoint_path();
  // A run killed between linking and replacing left both names on one file: rename() of a link onto its twin
  // does nothing (POSIX), so that case is skipped, not redone.
  if (std::filesystem::exists(checkpoint_path_) &&
      !(std::filesystem::exists(previous) && std::filesystem::equivalent(previous, checkpoint_path_))) {
    // The previous checkpoint stays (a hard link, else a copy) until this run ends: see kDivergedMarker.
    util::atomic_write(previous, [&](const std::filesystem::path& tmp) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      std::filesystem::create_hard_link(checkpoint_path_, tmp, ec);
      if (ec) std::filesystem::copy_file(checkpoint_path_, tmp);
    });
  }
  CheckpointState state;
  state.model = options_.model_name;
  state.step = steps_done;
  state.config_yaml = options_.config_yaml;
  state.dataset = options_.dataset;
  state.cpu_rng = cpu_rng_state();
  if (options_.device.is_cuda()) state.cuda_rng = device_rng_state(options_.device);
  state.metrics_bytes = metrics_->bytes();
  save_checkpoint(checkpoint_path_, model_, &optimizer_, state);
  if (resumed_after_divergence_) {
    // The checkpoint now holds this run's config (its new lr): later resumes compare with it.
    std::filesystem::remove(options_.run_dir / kDivergedMarker);
    resumed_after_divergence_ = false;
  }
}

StepContext TrainingLoop::begin_step(int64_t step, int64_t stop_at, const LoopHooks& hooks) {
  StepContext ctx;
  ctx.step = step;
  ctx.epoch = step / options_.steps_per_epoch;
  ctx.step_in_epoch = step % options_.steps_per_epoch;
  ctx.log = (step + 1) % options_.log_every == 0 || step + 1 == stop_at;
  ctx.lr = options_.lr_at ? options_.lr_at(step) : 0.0;
  if (options_.lr_at) set_lr(optimizer_, ctx.lr);
  ctx.momentum = options_.momentum_at ? options_.momentum_at(step) : 1.0;
  if (hooks.before_step) hooks.before_step(ctx);
  return ctx;
}

bool TrainingLoop::read_logged_figures(StepContext& ctx, const StepOutput& out, int64_t& first_bad_step) {
  ctx.loss = out.loss.item<double>();  // host sync: logging steps only
  const int64_t earlier = take_first_nonfinite_step();
  if (earlier >= 0) first_bad_step = earlier;
  for (const auto& [name, value] : out.terms) ctx.terms[name] = value.item<double>();
  return std::isfinite(ctx.loss) && earlier < 0;
}

std::string TrainingLoop::divergence_message(const StepContext& ctx, int64_t first_bad_step, double loss) {
  std::ostringstream what;
  if (first_bad_step < ctx.step) {
    what << "a loss became NaN or infinite at step " << first_bad_step << " (epoch "
         << first_bad_step / options_.steps_per_epoch << "), and " << loss << " at step " << ctx.step;
  } else {
    what << "loss became " << loss << " at step " << ctx.step << " (epoch " << ctx.epoch << ")";
  }
  return record_divergence(what.str(), first_bad_step, loss);
}

bool TrainingLoop::run_step(StepContext& ctx, const std::function<StepOutput(StepContext&)>& step_fn,
                            const LoopHooks& hooks, LoopResult& result) {
  const auto started = Clock::now();
  auto out = step_fn(ctx);
  TORCH_CHECK(out.loss.defined() && out.loss.numel() == 1, "TrainingLoop: the step returned no scalar loss");
  // Backward first: the EMA below reads the student's weights, which backward does not change, so it moves
  // "before backward" in value; the figures read after it are the ranks' averages when several train.
  optimizer_.zero_grad();
  out.loss.backward();
  if (distributed()) stop_agreed_ = reduce_over_ranks(ctx, out);
  bool finite = true;
  int64_t first_bad_step = ctx.step;
  if (ctx.log) {
    finite = read_logged_figures(ctx, out, first_bad_step);
  } else {
    track_nonfinite(out.loss, ctx.step);
  }
  const bool ema_on = !emas_.empty() && ctx.step >= options_.ema_start_step;
  if (finite && ema_on && options_.ema_timing == EmaTiming::before_backward) {
    for (auto* ema : emas_) ema->update(ctx.momentum);
  }
  torch::Tensor grad_norm;
  if (ctx.log && options_.measure_grad_norm) {
    grad_norm = total_grad_norm(params_);
    ctx.grad_norm = grad_norm.item<double>();  // host sync: logging steps only
  }
  if (hooks.after_backward) hooks.after_backward(ctx);
  if (!finite) {
    if (!ctx.record.empty()) metrics_->write(ctx.record);
    progress_->finish();
    const auto message = divergence_message(ctx, first_bad_step, ctx.loss);
    if (!options_.stop_on_divergence) throw TrainingDiverged(message);
    progress_->message(message + ": training diverged, stopping");
    result.diverged = true;
    result.steps_done = ctx.step;
    return false;
  }
  if (options_.max_grad_norm > 0) clip_grad_norm(params_, options_.max_grad_norm, grad_norm);
  optimizer_.step();
  if (ema_on && options_.ema_timing == EmaTiming::after_optimizer_step) {
    for (auto* ema : emas_) ema->update(ctx.momentum);
  }
  ctx.step_seconds = seconds_since(started);
  if (hooks.after_step) hooks.after_step(ctx);
  return true;
}

void TrainingLoop::write_logged_step(StepContext& ctx, LoopResult& result, RunState& state) {
  if (!ctx.record.empty()) {
    metrics_->write(ctx.record);
    result.last = ctx.record;
  }
  if (ctx.status.empty()) {
    std::ostringstream status;
    status << std::setprecision(4) << "loss " << ctx.loss << " lr " << std::setprecision(3) << ctx.lr;
    ctx.status = status.str();
  }
  state.last_status = ctx.status;
}

void TrainingLoop::checkpoint_if_due(int64_t step, int64_t stop_at, RunState& state) {
  state.saved_at_end = false;
  const bool epoch_save_follows = options_.save_each_epoch && step % options_.steps_per_epoch == 0;
  const bool cadence = options_.save_every_steps > 0 && step % options_.save_every_steps == 0;
  const bool timed =
      options_.save_every_minutes > 0 && seconds_since(state.last_save) >= 60.0 * options_.save_every_minutes;
  if ((cadence || timed) && step < stop_at && !epoch_save_follows) {
    save(step);
    state.last_save = Clock::now();
    state.saved_at_end = true;
  }
}

void TrainingLoop::stop_if_requested(int64_t step, int64_t stop_at, const RunState& state) {
  // Several ranks stop at the step where any of them was asked to (reduce_over_ranks), all together.
  if (!options_.take_stop_requests || !(distributed() ? stop_agreed_ : stop_requested())) return;
  if (!state.saved_at_end) save(step);
  progress_->finish();
  std::ostringstream what;
  what << "interrupted after step " << step << " of " << stop_at << " (epoch " << step / options_.steps_per_epoch
       << "); checkpoint " << checkpoint_path_.string() << " holds it";
  if (!options_.resume_hint.empty()) what << ". Continue with: " << options_.resume_hint;
  throw TrainingInterrupted(what.str());
}

LoopResult TrainingLoop::run(const std::function<StepOutput(StepContext&)>& step_fn, const LoopHooks& hooks) {
  LoopResult result;
  result.start_step = start_step_;
  const int64_t stop_at = stop_step();
  const int64_t spe = options_.steps_per_epoch;
  const auto t0 = Clock::now();
  const RunningLoopScope running;
  RunState state;
  state.last_save = Clock::now();
  int64_t step = start_step_;
  model_.train();
  while (step < stop_at) {
    const int64_t epoch = step / spe;
    for (int64_t it = step % spe; it < spe && step < stop_at; ++it) {
      StepContext ctx = begin_step(step, stop_at, hooks);
      if (!run_step(ctx, step_fn, hooks, result)) {
        result.seconds = seconds_since(t0);
        return result;
      }
      ++step;
      ++result.steps_run;
      if (ctx.log) write_logged_step(ctx, result, state);
      // Every step moves the bar (long mini-batch epochs); its text is the last logging step's: no host read.
      progress_->update(step, state.last_status);
      checkpoint_if_due(step, stop_at, state);
      stop_if_requested(step, stop_at, state);
    }
    if (hooks.end_of_epoch) hooks.end_of_epoch(epoch, step % spe == 0);
    if (options_.save_each_epoch) {
      save(step);
      state.last_save = Clock::now();
      state.saved_at_end = true;
    }
  }
  progress_->finish();
  result.seconds = seconds_since(t0);
  result.steps_done = step;
  if ((result.steps_run > 0 && !state.saved_at_end) || !std::filesystem::exists(checkpoint_path_)) save(step);
  if (is_main())
    std::filesystem::remove(previous_checkpoint_path());  // the run ended finite: the latest checkpoint is enough
  return result;
}

}  // namespace graphmae2::models::engine
