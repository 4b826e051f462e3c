#include "models/graphmae2/trainer.h"

#include "graph/transforms.h"
#include "models/engine/device_memory.h"
#include "models/engine/fused_adam.h"
#include "models/engine/matmul_precision.h"
#include "models/engine/prefetch.h"
#include "models/engine/seed_scope.h"
#include "models/ssl/ema.h"
#include "util/stopwatch.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace graphmae2::models::graphmae2 {

namespace {

// One pass per parameter (engine::FusedAdam); its state is torch::optim::Adam's, so older checkpoints resume.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const GraphMAE2Config& cfg, std::vector<torch::Tensor> params) {
  if (cfg.optimizer == OptimizerKind::adamw) {
    return std::make_unique<engine::FusedAdamW>(params,
                                                torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  }
  return std::make_unique<engine::FusedAdam>(params, torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
}

}  // namespace

void check_normalized_once(const datasets::NodeDataset& data, const GraphMAE2Config& cfg) {
  if (data.feature_normalization.empty() || cfg.feature_norm == FeatureNorm::none) return;
  throw std::invalid_argument("the features of '" + data.name + "' were already normalised (" +
                              data.feature_normalization +
                              ") when its cache was written; feature_norm would "
                              "normalise them again. Set --feature_norm none, or write the cache without "
                              "--row-normalize/--standardize");
}

std::string resume_mismatch(const GraphMAE2Config& cfg, const engine::CheckpointState& state, bool after_divergence) {
  if (state.dataset != cfg.dataset) {
    return "it was trained on '" + state.dataset + "', this run is on '" + cfg.dataset + "'";
  }
  GraphMAE2Config stored;
  stored.apply_text(state.config_yaml, "the checkpoint's config");
  auto free_keys = GraphMAE2Config::keys_not_affecting_training();
  if (after_divergence) {
    const auto& more = engine::keys_free_after_divergence();
    free_keys.insert(free_keys.end(), more.begin(), more.end());
  }
  const auto diff = stored.differing_keys(cfg, free_keys);
  if (diff.empty()) return "";
  std::string keys;
  for (const auto& k : diff) keys += (keys.empty() ? "" : ", ") + k;
  return "it was written with different values of " + keys + "; use another --out or the same values";
}

graph::CsrGraph prepare_graph(const datasets::NodeDataset& data, const GraphMAE2Config& cfg) {
  // The same CSR as add_self_loops(remove_self_loops(symmetrize(g))) (sorted, unique neighbours, one self-loop per
  // node: a test checks it), built in linear memory; the edge-list route sorts copies of 2 x E int64 pairs, which
  // exceeds 24 GiB on a 20M-node, 150M-edge graph.
  if (cfg.symmetrize) return graph::bidirected_with_self_loops(data.graph);
  return graph::add_self_loops(graph::remove_self_loops(data.graph));
}

datasets::FeatureNormalization feature_normalization(const GraphMAE2Config& cfg) {
  datasets::FeatureNormalization norm;
  norm.row_normalize = cfg.feature_norm == FeatureNorm::row;
  norm.standardize = cfg.feature_norm == FeatureNorm::standard;
  return norm;
}

PreparedGraph prepare_inputs(const datasets::NodeDataset& data, const GraphMAE2Config& cfg) {
  check_normalized_once(data, cfg);
  PreparedGraph out;
  switch (cfg.feature_norm) {
    case FeatureNorm::row:
      out.features = datasets::row_normalize(data.features);
      break;
    case FeatureNorm::standard:
      out.features = datasets::standardize(data.features);
      break;
    case FeatureNorm::none:
      out.features = data.features;
      break;
  }
  out.graph = prepare_graph(data, cfg);
  if (cfg.sparse_input) {
    // Counted first: dense features (ogbn-arxiv's standardised ones) would otherwise build an index of every entry.
    const auto nonzero = static_cast<double>(out.features.count_nonzero().item<int64_t>());
    if (nonzero <= kSparseInputDensity * static_cast<double>(out.features.numel())) {
      out.sparse_features = layers::SparseFeatures::from_dense(out.features);
    }
  }
  return out;
}

PreparedGraph PreparedGraph::to(const torch::Device& device) const {
  PreparedGraph out;
  out.graph = graph.to(device);
  out.features = features.to(device);
  if (sparse_features) out.sparse_features = sparse_features->to(device);
  return out;
}

GraphMAE2Batch PreparedGraph::full_batch() const {
  GraphMAE2Batch batch;
  batch.graph = graph;
  batch.features = features;
  batch.sparse = sparse();
  batch.targets =
      torch::arange(features.size(0), torch::TensorOptions().dtype(torch::kInt64).device(features.device()));
  batch.targets_lead = true;
  return batch;
}

GraphMAE2 build_model(const GraphMAE2Config& cfg, int64_t in_dim) { return GraphMAE2(cfg.model_options(in_dim)); }

torch::Tensor embed(GraphMAE2& model, const PreparedGraph& input) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  auto emb = model->embed(input.graph, input.features, input.sparse());
  model->train(was_training);
  return emb;
}

namespace {

using BatchLoader = engine::PrefetchLoader<std::unique_ptr<OwnedBatch>>;

// The engine's options for one seed's run of `cfg`. Schedules move per epoch, as the reference's LambdaLR
// stepped after each epoch.
engine::LoopOptions loop_options(const GraphMAE2Config& cfg, const TrainerOptions& options, int64_t steps_per_epoch) {
  engine::LoopOptions loop;
  loop.model_name = "graphmae2";
  loop.epochs = cfg.max_epoch;
  loop.steps_per_epoch = steps_per_epoch;
  loop.max_steps = options.max_steps;
  loop.lr_at = [&cfg, steps_per_epoch](int64_t step) {
    const int64_t epoch = step / steps_per_epoch;
    return cfg.scheduler ? engine::cosine_decay(cfg.lr, epoch, cfg.max_epoch) : cfg.lr;
  };
  loop.momentum_at = [&cfg, steps_per_epoch](int64_t step) {
    const int64_t epoch = step / steps_per_epoch;
    return cfg.momentum_schedule == MomentumSchedule::cosine
               ? ssl::cosine_momentum(cfg.momentum, epoch, std::max<int64_t>(1, cfg.max_epoch))
               : cfg.momentum;
  };
  loop.ema_start_step = cfg.delayed_ema_epoch * steps_per_epoch;
  // The reference moves the target after computing the losses and before the optimiser step, so the
  // target of the next step is built from this step's (pre-update) student.
  loop.ema_timing = engine::EmaTiming::before_backward;
  loop.max_grad_norm = cfg.max_grad_norm;
  loop.measure_grad_norm = true;
  loop.log_every = steps_per_epoch;  // the figures of each epoch's last step: one host read per epoch
  loop.run_dir = options.seed_dir;
  loop.save_every_steps = cfg.save_every * steps_per_epoch;
  loop.save_every_minutes = cfg.save_every_minutes;
  loop.resume_hint = "the same graphmae2-train command with --resume";
  loop.resume = options.resume;
  loop.config_yaml = cfg.to_yaml();
  loop.dataset = cfg.dataset;
  loop.resume_guard = [&cfg](const engine::CheckpointState& state, bool after_divergence) {
    return resume_mismatch(cfg, state, after_divergence);
  };
  loop.device = options.device;
  loop.progress = options.progress;
  loop.label = options.label;
  loop.log = options.log;
  loop.group = options.group;
  return loop;
}

MaskPlan draw_masks(const GraphMAE2Config& cfg, int64_t n, const torch::Device& device) {
  MaskPlan plan;
  plan.mask_nodes = random_subset(n, cfg.mask_rate, device);
  if (cfg.remask_method == RemaskMethod::random) {
    for (int64_t v = 0; v < cfg.num_remasking; ++v)
      plan.remask_nodes.push_back(random_subset(n, cfg.remask_rate, device));
  }
  return plan;
}

// The loss backward runs on and the terms logged with it.
engine::StepOutput step_output(const GraphMAE2Config& cfg, const GraphMAE2Losses& losses) {
  engine::StepOutput out;
  out.loss = losses.total;
  out.terms = {{"loss_rec", losses.reconstruction}, {"loss_latent", losses.latent}};
  if (cfg.variance_reg > 0.0 || cfg.covariance_reg > 0.0) out.terms.emplace_back("loss_reg", losses.regulariser);
  if (cfg.self_reconstruction > 0.0) out.terms.emplace_back("loss_self", losses.self_reconstruction);
  if (losses.per_view.size() > 1) {
    for (size_t v = 0; v < losses.per_view.size(); ++v) {
      out.terms.emplace_back("loss_rec_view" + std::to_string(v), losses.per_view[v]);
    }
  }
  return out;
}

/// @brief The per-epoch figures of a run: the epoch's wall time and, for mini-batch runs, its batches/s and
/// the share of it spent waiting for the loader.
class EpochClock {
 public:
  EpochClock(const BatchLoader* loader, int64_t start_step) : loader_(loader), start_step_(start_step) {}

  void before_step(const engine::StepContext& ctx) {
    if (ctx.step_in_epoch != 0 && ctx.step != start_step_) return;
    started_ = util::Clock::now();
    if (loader_) wait_at_start_ = loader_->wait_seconds();
  }
  double seconds() const { return util::seconds_since(started_); }
  // Adds batches_per_second and loader_wait_share over `steps` steps of `seconds` to `fig` (mini-batch runs).
  void add_loader_figures(std::map<std::string, double>& fig, int64_t steps, double seconds) const {
    if (!loader_) return;
    fig["batches_per_second"] = static_cast<double>(steps) / std::max(seconds, 1e-9);
    fig["loader_wait_share"] = (loader_->wait_seconds() - wait_at_start_) / std::max(seconds, 1e-9);
  }
  bool minibatch() const { return loader_ != nullptr; }

 private:
  const BatchLoader* loader_;
  int64_t start_step_;
  util::Clock::time_point started_ = util::Clock::now();
  double wait_at_start_ = 0;
};

// A run stopped inside an epoch (max_steps): the epoch's line is written when a resumed run ends it; the
// throughput of the steps run so far is reported here.
void report_stop_inside_epoch(engine::StepContext& ctx, const EpochClock& clock, int64_t start_step,
                              int64_t steps_per_epoch, const TrainerOptions& options, TrainResult& result) {
  std::ostringstream status;
  status << "stopped at step " << ctx.step + 1 << " (step " << ctx.step_in_epoch + 1 << " of " << steps_per_epoch
         << " in epoch " << ctx.epoch << ")";
  if (clock.minibatch()) {
    const int64_t steps_timed = ctx.step - std::max(start_step, ctx.step - ctx.step_in_epoch) + 1;
    clock.add_loader_figures(result.last, steps_timed, clock.seconds());
    status << std::setprecision(3) << ": " << result.last["batches_per_second"] << " batches/s, loader wait "
           << 100.0 * result.last["loader_wait_share"] << "% over its last " << steps_timed << " steps";
  }
  ctx.status = status.str();
  engine::log_info(options.log, options.label + ": " + ctx.status);
}

std::string epoch_status(const engine::StepContext& ctx, std::map<std::string, double>& fig, bool minibatch) {
  std::ostringstream status;
  status << std::setprecision(4) << "loss " << ctx.loss << " rec " << fig["loss_rec"] << " lat " << fig["loss_latent"]
         << " lr " << std::setprecision(3) << ctx.lr;
  if (minibatch) {
    status << std::setprecision(3) << " " << fig["batches_per_second"] << " batches/s, loader wait "
           << 100.0 * fig["loader_wait_share"] << "%";
  }
  return status.str();
}

void record_peak_memory(const TrainerOptions& options, TrainResult& result) {
  const auto peak = engine::peak_device_memory(options.device);
  if (!peak) return;
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  result.last["peak_gpu_allocated_gib"] = static_cast<double>(peak->allocated_bytes) / kGiB;
  result.last["peak_gpu_reserved_gib"] = static_cast<double>(peak->reserved_bytes) / kGiB;
  std::ostringstream line;
  line << options.label << ": peak GPU memory " << std::setprecision(3) << result.last["peak_gpu_allocated_gib"]
       << " GiB allocated, " << result.last["peak_gpu_reserved_gib"] << " GiB reserved by torch's allocator";
  engine::log_info(options.log, line.str());
}

/// @brief One seed's training: the model, its optimiser and EMA teachers, the engine's loop over them, the
/// batches of a mini-batch run, and the step and hooks the loop calls.
class SeedTraining {
 public:
  SeedTraining(const GraphMAE2Config& cfg, const PreparedGraph& input, int64_t seed, const TrainerOptions& options)
      : cfg_(cfg),
        input_(input),
        seed_(seed),
        options_(options),
        model_(build_model(cfg, options.batches ? options.batches->feature_dim() : input.features.size(1))),
        steps_per_epoch_(options.batches ? options.batches->steps_per_epoch() : 1) {
    model_->to(options.device);  // before the optimiser takes the parameters
    params_ = model_->student_parameters();
    optimizer_ = make_optimizer(cfg, params_);
    ema_encoder_ = std::make_unique<ssl::EmaUpdater>(model_->encoder.ptr(), model_->encoder_ema.ptr());
    ema_projector_ = std::make_unique<ssl::EmaUpdater>(model_->projector.ptr(), model_->projector_ema.ptr());
    loop_ = std::make_unique<engine::TrainingLoop>(
        loop_options(cfg, options, steps_per_epoch_), *model_, *optimizer_, params_,
        std::vector<ssl::EmaUpdater*>{ema_encoder_.get(), ema_projector_.get()});
    if (options.batches) {
      // Batches of upcoming steps are built on worker threads (they depend on the step only).
      loader_ = std::make_unique<BatchLoader>([&](int64_t s) { return options.batches->batch(s); }, loop_->start_step(),
                                              loop_->stop_step(), static_cast<int>(cfg.loader_workers),
                                              2 * std::max<int64_t>(1, cfg.loader_workers));
    } else {
      full_batch_ = input.full_batch();
    }
  }

  TrainResult run();

 private:
  engine::StepOutput step(engine::StepContext& ctx);
  void after_step(engine::StepContext& ctx);
  void observe_embeddings(int64_t epoch);

  const GraphMAE2Config& cfg_;
  const PreparedGraph& input_;
  int64_t seed_;
  const TrainerOptions& options_;
  GraphMAE2 model_;
  int64_t steps_per_epoch_;
  std::vector<torch::Tensor> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<ssl::EmaUpdater> ema_encoder_, ema_projector_;
  std::unique_ptr<engine::TrainingLoop> loop_;
  std::unique_ptr<BatchLoader> loader_;
  GraphMAE2Batch full_batch_;
  std::unique_ptr<EpochClock> clock_;
  TrainResult result_;
};

engine::StepOutput SeedTraining::step(engine::StepContext& ctx) {
  std::unique_ptr<OwnedBatch> owned;
  if (loader_) {
    owned = loader_->take(ctx.step);
    if (!options_.device.is_cpu()) owned = owned->to(options_.device);
  }
  const auto& batch = owned ? owned->batch : full_batch_;
  const auto plan = draw_masks(cfg_, batch.features.size(0), batch.features.device());
  return step_output(cfg_, model_->forward(batch, plan, cfg_.loss_options()));
}

void SeedTraining::observe_embeddings(int64_t epoch) {
  if (!options_.on_embeddings || (options_.batches && !options_.embeddings) || cfg_.diag_every <= 0) return;
  if ((epoch + 1) % cfg_.diag_every != 0 && epoch != loop_->start_step() / steps_per_epoch_) return;
  options_.on_embeddings(epoch, options_.embeddings ? options_.embeddings(model_)
                                : options_.batches  ? torch::Tensor()
                                                    : embed(model_, input_));
}

void SeedTraining::after_step(engine::StepContext& ctx) {
  if (!ctx.log) return;  // mini-batch: between the epochs' last steps nothing was read on the host
  if (ctx.step_in_epoch != steps_per_epoch_ - 1) {
    report_stop_inside_epoch(ctx, *clock_, loop_->start_step(), steps_per_epoch_, options_, result_);
    return;
  }
  const double epoch_seconds = steps_per_epoch_ == 1 ? ctx.step_seconds : clock_->seconds();
  std::map<std::string, double> fig{{"loss", ctx.loss},
                                    {"lr", ctx.lr},
                                    {"momentum", ctx.momentum},
                                    {"grad_norm", ctx.grad_norm},
                                    {"teacher_distance", ema_encoder_->distance()},
                                    {"epoch_seconds", epoch_seconds}};
  for (const auto& [name, value] : ctx.terms) fig[name] = value;
  clock_->add_loader_figures(fig, ctx.step_in_epoch + 1, epoch_seconds);
  observe_embeddings(ctx.epoch);
  if (options_.on_epoch) options_.on_epoch(ctx.epoch, fig);
  ctx.record = engine::Json{{"seed", seed_}, {"epoch", ctx.epoch}};
  for (const auto& [k, v] : fig) ctx.record[k] = v;
  ctx.status = epoch_status(ctx, fig, clock_->minibatch());
  result_.last = fig;
}

TrainResult SeedTraining::run() {
  result_.model = model_;
  clock_ = std::make_unique<EpochClock>(loader_.get(), loop_->start_step());
  engine::LoopHooks hooks;
  hooks.before_step = [this](engine::StepContext& ctx) { clock_->before_step(ctx); };
  hooks.after_step = [this](engine::StepContext& ctx) { after_step(ctx); };
  engine::reset_peak_device_memory(options_.device);
  const auto run = loop_->run([this](engine::StepContext& ctx) { return step(ctx); }, hooks);
  record_peak_memory(options_, result_);
  result_.epochs_run = (run.steps_run + steps_per_epoch_ - 1) / steps_per_epoch_;
  result_.steps_run = run.steps_run;
  result_.steps_per_epoch = steps_per_epoch_;
  result_.seconds = run.seconds;
  return result_;
}

}  // namespace

TrainResult train_graphmae2(const GraphMAE2Config& cfg, const PreparedGraph& input, int64_t seed,
                            const TrainerOptions& options) {
  cfg.validate();
  // Pre-training's products only: the caller's setting is back for evaluation.
  const engine::Float32MatmulPrecisionScope precision(cfg.matmul_precision_name());
  // The run's draws are torch::manual_seed(seed)'s; the caller's generators are given back when it ends.
  const engine::SeedScope seeded(static_cast<uint64_t>(seed), options.device);
  TORCH_CHECK(options.batches != nullptr || input.features.device() == options.device,
              "train_graphmae2: the inputs are on ", input.features.device(), " but training runs on ", options.device,
              " (use PreparedGraph::to)");
  return SeedTraining(cfg, input, seed, options).run();
}

std::string TrainResult::span() const {
  std::ostringstream text;
  text << std::fixed << std::setprecision(1) << seconds << " s for ";
  if (steps_per_epoch > 1 && steps_run % steps_per_epoch != 0) {
    text << steps_run << " steps (" << std::setprecision(2)
         << static_cast<double>(steps_run) / static_cast<double>(steps_per_epoch) << " epochs)";
  } else {
    text << epochs_run << (epochs_run == 1 ? " epoch" : " epochs");
  }
  return text.str();
}

}  // namespace graphmae2::models::graphmae2
