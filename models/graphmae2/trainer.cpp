#include "models/graphmae2/trainer.h"

#include "graph/transforms.h"
#include "models/engine/device_memory.h"
#include "models/engine/fused_adam.h"
#include "models/engine/matmul_precision.h"
#include "models/engine/prefetch.h"
#include "models/ssl/ema.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace graphmae2::models::graphmae2 {

namespace {

// One pass per parameter (engine::FusedAdam); its state is torch::optim::Adam's, so older checkpoints resume.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const GraphMAE2Config& cfg, std::vector<torch::Tensor> params) {
  if (cfg.optimizer == OptimizerKind::adamw) {
    return std::make_unique<engine::FusedAdamW>(params, torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  }
  return std::make_unique<engine::FusedAdam>(params, torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
}

}  // namespace

void check_normalized_once(const datasets::NodeDataset& data, const GraphMAE2Config& cfg) {
  if (data.feature_normalization.empty() || cfg.feature_norm == FeatureNorm::none) return;
  throw std::invalid_argument("the features of '" + data.name + "' were already normalised (" +
                              data.feature_normalization + ") when its cache was written; feature_norm would "
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
    case FeatureNorm::row: out.features = datasets::row_normalize(data.features); break;
    case FeatureNorm::standard: out.features = datasets::standardize(data.features); break;
    case FeatureNorm::none: out.features = data.features; break;
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
  batch.targets = torch::arange(features.size(0), torch::TensorOptions().dtype(torch::kInt64).device(features.device()));
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

TrainResult train_graphmae2(const GraphMAE2Config& cfg, const PreparedGraph& input, int64_t seed,
                            const TrainerOptions& options) {
  cfg.validate();
  // Pre-training's products only: the caller's setting is back for evaluation.
  const engine::Float32MatmulPrecisionScope precision(cfg.matmul_precision_name());
  torch::manual_seed(static_cast<uint64_t>(seed));
  TORCH_CHECK(options.batches != nullptr || input.features.device() == options.device, "train_graphmae2: the inputs are on ",
              input.features.device(), " but training runs on ", options.device, " (use PreparedGraph::to)");
  TrainResult result;
  auto model = build_model(cfg, options.batches ? options.batches->feature_dim() : input.features.size(1));
  model->to(options.device);  // before the optimiser takes the parameters
  result.model = model;
  auto params = model->student_parameters();
  auto optimizer = make_optimizer(cfg, params);
  ssl::EmaUpdater ema_encoder(model->encoder.ptr(), model->encoder_ema.ptr());
  ssl::EmaUpdater ema_projector(model->projector.ptr(), model->projector_ema.ptr());

  const int64_t steps_per_epoch = options.batches ? options.batches->steps_per_epoch() : 1;
  engine::LoopOptions loop;
  loop.model_name = "graphmae2";
  loop.epochs = cfg.max_epoch;
  loop.steps_per_epoch = steps_per_epoch;
  loop.max_steps = options.max_steps;
  // Schedules move per epoch, as the reference's LambdaLR stepped after each epoch.
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
  engine::TrainingLoop trainer(loop, *model, *optimizer, params, {&ema_encoder, &ema_projector});

  const auto full_batch = options.batches ? GraphMAE2Batch{} : input.full_batch();
  // Mini-batch: batches of upcoming steps are built on worker threads (they depend on the step only).
  std::unique_ptr<engine::PrefetchLoader<std::unique_ptr<OwnedBatch>>> loader;
  if (options.batches) {
    loader = std::make_unique<engine::PrefetchLoader<std::unique_ptr<OwnedBatch>>>(
        [&](int64_t s) { return options.batches->batch(s); }, trainer.start_step(), trainer.stop_step(),
        static_cast<int>(cfg.loader_workers), 2 * std::max<int64_t>(1, cfg.loader_workers));
  }
  double wait_at_epoch_start = 0;
  const auto loss_options = cfg.loss_options();
  auto step = [&](engine::StepContext& ctx) {
    std::unique_ptr<OwnedBatch> owned;
    if (options.batches) {
      owned = loader->take(ctx.step);
      if (!options.device.is_cpu()) owned = owned->to(options.device);
    }
    const auto& batch = owned ? owned->batch : full_batch;
    const int64_t n = batch.features.size(0);
    MaskPlan plan;
    plan.mask_nodes = random_subset(n, cfg.mask_rate, batch.features.device());
    if (cfg.remask_method == RemaskMethod::random) {
      for (int64_t v = 0; v < cfg.num_remasking; ++v) {
        plan.remask_nodes.push_back(random_subset(n, cfg.remask_rate, batch.features.device()));
      }
    }
    auto losses = model->forward(batch, plan, loss_options);
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
  };
  engine::LoopHooks hooks;
  auto epoch_start = std::chrono::steady_clock::now();
  double epoch_seconds = 0;
  hooks.before_step = [&](engine::StepContext& ctx) {
    if (ctx.step_in_epoch == 0 || ctx.step == trainer.start_step()) {
      epoch_start = std::chrono::steady_clock::now();
      epoch_seconds = 0;
      if (loader) wait_at_epoch_start = loader->wait_seconds();
    }
  };
  hooks.after_step = [&](engine::StepContext& ctx) {
    if (!ctx.log) return;  // mini-batch: between the epochs' last steps nothing was read on the host
    if (ctx.step_in_epoch != steps_per_epoch - 1) {
      // A run stopped inside an epoch (max_steps): the epoch's line is written when a resumed run ends it; the
      // throughput of the steps run so far is reported here.
      std::ostringstream status;
      status << "stopped at step " << ctx.step + 1 << " (step " << ctx.step_in_epoch + 1 << " of " << steps_per_epoch
             << " in epoch " << ctx.epoch << ")";
      if (loader) {
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
        const int64_t steps_timed = ctx.step - std::max(trainer.start_step(), ctx.step - ctx.step_in_epoch) + 1;
        result.last["batches_per_second"] = static_cast<double>(steps_timed) / std::max(seconds, 1e-9);
        result.last["loader_wait_share"] = (loader->wait_seconds() - wait_at_epoch_start) / std::max(seconds, 1e-9);
        status << std::setprecision(3) << ": " << result.last["batches_per_second"] << " batches/s, loader wait "
               << 100.0 * result.last["loader_wait_share"] << "% over its last " << steps_timed << " steps";
      }
      ctx.status = status.str();
      std::cout << "\n" << options.label << ": " << ctx.status << std::endl;
      return;
    }
    epoch_seconds = steps_per_epoch == 1 ? ctx.step_seconds
                                         : std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    std::map<std::string, double> fig{{"loss", ctx.loss},
                                      {"lr", ctx.lr},
                                      {"momentum", ctx.momentum},
                                      {"grad_norm", ctx.grad_norm},
                                      {"teacher_distance", ema_encoder.distance()},
                                      {"epoch_seconds", epoch_seconds}};
    for (const auto& [name, value] : ctx.terms) fig[name] = value;
    if (loader) {
      const int64_t steps_timed = ctx.step_in_epoch + 1;
      fig["batches_per_second"] = static_cast<double>(steps_timed) / std::max(epoch_seconds, 1e-9);
      fig["loader_wait_share"] = (loader->wait_seconds() - wait_at_epoch_start) / std::max(epoch_seconds, 1e-9);
    }
    const int64_t epoch = ctx.epoch;
    if (options.on_embeddings && (!options.batches || options.embeddings) && cfg.diag_every > 0 &&
        ((epoch + 1) % cfg.diag_every == 0 || epoch == trainer.start_step() / steps_per_epoch)) {
      options.on_embeddings(epoch, options.embeddings ? options.embeddings(model)
                                   : options.batches ? torch::Tensor() : embed(model, input));
    }
    if (options.on_epoch) options.on_epoch(epoch, fig);
    ctx.record = engine::Json{{"seed", seed}, {"epoch", epoch}};
    for (const auto& [k, v] : fig) ctx.record[k] = v;
    std::ostringstream status;
    status << std::setprecision(4) << "loss " << ctx.loss << " rec " << fig["loss_rec"] << " lat "
           << fig["loss_latent"] << " lr " << std::setprecision(3) << ctx.lr;
    if (loader) {
      status << std::setprecision(3) << " " << fig["batches_per_second"] << " batches/s, loader wait "
             << 100.0 * fig["loader_wait_share"] << "%";
    }
    ctx.status = status.str();
    result.last = fig;
  };
  engine::reset_peak_device_memory(options.device);
  const auto run = trainer.run(step, hooks);
  if (const auto peak = engine::peak_device_memory(options.device)) {
    constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
    result.last["peak_gpu_allocated_gib"] = static_cast<double>(peak->allocated_bytes) / kGiB;
    result.last["peak_gpu_reserved_gib"] = static_cast<double>(peak->reserved_bytes) / kGiB;
    std::cout << options.label << ": peak GPU memory " << std::setprecision(3) << result.last["peak_gpu_allocated_gib"]
              << " GiB allocated, " << result.last["peak_gpu_reserved_gib"] << " GiB reserved by torch's allocator"
              << std::endl;
  }
  result.epochs_run = (run.steps_run + steps_per_epoch - 1) / steps_per_epoch;
  result.steps_run = run.steps_run;
  result.steps_per_epoch = steps_per_epoch;
  result.seconds = run.seconds;
  return result;
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
