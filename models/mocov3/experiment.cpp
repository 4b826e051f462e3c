#include "models/mocov3/experiment.h"

#include "datasets/augment.h"
#include "datasets/idx.h"
#include "models/engine/grad_monitor.h"
#include "models/engine/loop.h"
#include "models/engine/seed_scope.h"
#include "models/mocov3/evaluate.h"
#include "models/ssl/ema.h"
#include "util/atomic_file.h"
#include "util/stopwatch.h"

#include <cmath>
#include <iomanip>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

namespace graphmae2::models::mocov3 {
namespace fs = std::filesystem;

namespace {

using engine::Json;
using util::Clock;
using util::seconds_since;

std::string percent(double acc) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << 100.0 * acc;
  return os.str();
}

std::string number(double v) {
  std::ostringstream os;
  os << std::setprecision(7) << v;
  return os.str();
}

// ---- run inputs: the images and their pixel statistics ----

struct RunInputs {
  datasets::ImageDataset train;
  datasets::ImageDataset test;
  int64_t num_classes = 0;
  double mean = 0.0;  // of the training pixels in [0, 1]: the views and the probes are normalised with them
  double std = 1.0;

  int64_t image_size() const { return train.images.size(2); }
  // The first probe_train training images (all when 0).
  int64_t probe_rows(const MoCoV3Config& cfg) const {
    return cfg.probe_train > 0 ? std::min(cfg.probe_train, train.size()) : train.size();
  }
};

RunInputs load_inputs(const MoCoV3Config& cfg) {
  RunInputs in;
  in.train = datasets::load_idx_image_dataset(cfg.data_root, "train", cfg.dataset);
  in.test = datasets::load_idx_image_dataset(cfg.data_root, "t10k", cfg.dataset);
  TORCH_CHECK(in.train.images.sizes().slice(1) == in.test.images.sizes().slice(1), "train images are ",
              in.train.images.sizes(), " but test images are ", in.test.images.sizes());
  TORCH_CHECK(in.train.images.size(2) == in.train.images.size(3), "images must be square, got ",
              in.train.images.sizes());
  in.num_classes = std::max(in.train.num_classes, in.test.num_classes);
  const auto pixels = in.train.images.to(torch::kFloat32).div_(255.0);
  in.mean = pixels.mean().item<double>();
  in.std = pixels.std().item<double>();
  return in;
}

std::string describe(const MoCoV3Config& cfg, const RunInputs& in) {
  return cfg.dataset + ": " + std::to_string(in.train.size()) + " train / " + std::to_string(in.test.size()) +
         " test images of " + std::to_string(in.train.images.size(2)) + "x" + std::to_string(in.train.images.size(3)) +
         ", pixel mean " + number(in.mean) + " std " + number(in.std);
}

// The two augmented views of every pre-training image, batched and seeded (main_moco.py's augmentation).
datasets::TwoViewLoader make_loader(const MoCoV3Config& cfg, const RunInputs& in) {
  const auto& images = in.train.images;
  const auto pretrain_images =
      cfg.train_subset > 0 ? images.slice(0, 0, std::min(cfg.train_subset, in.train.size())) : images;
  auto view1 = datasets::mocov3_view1(in.image_size())
                   .crop_min_scale(cfg.crop_min)
                   .brightness(cfg.jitter)
                   .contrast(cfg.jitter)
                   .blur_sigma_max(cfg.blur_sigma_max);
  auto view2 = datasets::mocov3_view2(in.image_size())
                   .crop_min_scale(cfg.crop_min)
                   .brightness(cfg.jitter)
                   .contrast(cfg.jitter)
                   .blur_sigma_max(cfg.blur_sigma_max)
                   .solarize_prob(cfg.solarize_prob);
  return datasets::TwoViewLoader(pretrain_images, datasets::TwoViewLoaderOptions()
                                                      .batch_size(cfg.batch_size)
                                                      .seed(static_cast<uint64_t>(cfg.seed))
                                                      .mean(in.mean)
                                                      .std(in.std)
                                                      .view1(view1)
                                                      .view2(view2));
}

// ---- the baseline: a linear probe on the raw pixels ----

RunResult probe_raw_pixels(const MoCoV3Config& cfg, const RunInputs& in, const fs::path& out) {
  RunResult result;
  engine::MetricsLog metrics(out / "metrics.jsonl", -1);
  const auto t0 = Clock::now();
  const int64_t n_probe = in.probe_rows(cfg);
  const auto flat_train = in.train.images.slice(0, 0, n_probe).flatten(1).to(torch::kFloat32);
  const auto flat_test = in.test.images.flatten(1).to(torch::kFloat32);
  const auto probe = image_linear_probe(flat_train, in.train.labels.slice(0, 0, n_probe), flat_test, in.test.labels,
                                        in.num_classes, cfg.probe_options());
  result.linear_probe = probe.test_acc;
  result.probe_seconds = seconds_since(t0);
  metrics.write(Json{{"type", "final"},
                     {"mode", "raw-pixels"},
                     {"linear_probe", probe.test_acc},
                     {"probe_best_epoch", probe.best_epoch}});
  const Json summary{{"mode", "raw-pixels"}, {"linear_probe", probe.test_acc}, {"probe_seconds", result.probe_seconds}};
  util::atomic_write_text(out / "result.json", summary.dump() + "\n");
  return result;
}

// ---- the model and its optimizer ----

struct Trainee {
  MoCoV3Options options;
  MoCoV3 model{nullptr};
  std::vector<torch::Tensor> params;  // the trainable ones (a frozen patch projection is not handed over)
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::unique_ptr<ssl::EmaUpdater> momentum_encoder;
  double lr = 0.0;  // cfg.lr scaled by batch_size / 256
};

Trainee build_trainee(const MoCoV3Config& cfg, const RunInputs& in) {
  Trainee t;
  try {
    t.options = cfg.model_options(in.image_size(), in.train.images.size(1));
  } catch (const c10::Error& e) {
    throw std::invalid_argument(std::string("configuration: ") + e.what_without_backtrace());
  }
  t.model = MoCoV3(t.options);
  t.lr = cfg.lr * static_cast<double>(cfg.batch_size) / 256.0;
  t.params = t.model->trainable_parameters();
  t.optimizer =
      std::make_unique<torch::optim::AdamW>(t.params, torch::optim::AdamWOptions(t.lr).weight_decay(cfg.weight_decay));
  t.momentum_encoder = std::make_unique<ssl::EmaUpdater>(t.model->base_encoder.ptr(), t.model->momentum_encoder.ptr());
  return t;
}

std::string describe(const MoCoV3Config& cfg, const Trainee& t, int64_t images, int64_t per_epoch) {
  const auto& vit = t.options.backbone();
  std::ostringstream desc;
  desc << "ViT " << vit.embed_dim() << "d x " << vit.depth() << " blocks, " << vit.num_heads() << " heads, patch "
       << vit.patch_size() << " (" << vit.num_patches() << " tokens), pos " << vit::to_string(vit.pos_embed())
       << ", pool " << vit::to_string(vit.pooling()) << (cfg.stop_grad_conv1 ? ", frozen patch projection" : "") << "; "
       << images << " images, " << per_epoch << " iterations/epoch, lr " << t.lr;
  return desc.str();
}

// ---- loop options from the config ----

// Why a checkpoint cannot continue this run ("" when it can).
std::string resume_mismatch(const MoCoV3Config& cfg, const engine::CheckpointState& state, bool after_divergence) {
  const auto previous = mocov3_config_from_yaml_text(state.config_yaml, "the checkpoint's config");
  auto free_keys = mocov3_keys_not_affecting_training();
  if (after_divergence) {
    const auto& more = engine::keys_free_after_divergence();
    free_keys.insert(free_keys.end(), more.begin(), more.end());
  }
  const auto diff = differing_keys(previous, cfg, free_keys);
  if (diff.empty()) return "";
  std::string keys;
  for (const auto& k : diff) keys += (keys.empty() ? "" : ", ") + k;
  return "it was written with a different configuration (" + keys +
         "); resume with the same config or start a new --out";
}

engine::LoopOptions loop_options(const MoCoV3Config& cfg, const RunOptions& run, int64_t per_epoch, double lr) {
  const int64_t total_steps = cfg.max_epoch * per_epoch;
  engine::LoopOptions loop;
  loop.model_name = "mocov3";
  loop.epochs = cfg.max_epoch;
  loop.steps_per_epoch = per_epoch;
  loop.max_steps = cfg.max_steps;
  // Per iteration: linear warm-up, then a half-cosine, over fractional epochs (main_moco.py adjust_learning_rate).
  loop.lr_at = [lr, per_epoch, warmup = cfg.warmup_epochs, epochs = cfg.max_epoch](int64_t step) {
    const double epoch_f =
        static_cast<double>(step / per_epoch) + static_cast<double>(step % per_epoch) / static_cast<double>(per_epoch);
    return engine::warmup_cosine(lr, epoch_f, warmup, static_cast<double>(epochs));
  };
  loop.momentum_at = [m = cfg.momentum, cosine = cfg.momentum_schedule == MomentumSchedule::cosine,
                      total_steps](int64_t step) { return cosine ? ssl::cosine_momentum(m, step, total_steps) : m; };
  loop.ema_timing = engine::EmaTiming::after_optimizer_step;
  loop.run_dir = run.out;
  loop.save_every_steps = cfg.save_every;
  loop.save_every_minutes = cfg.save_every_minutes;
  loop.resume_hint = "the same mocov3-train command with --resume";
  loop.save_each_epoch = true;
  loop.resume = run.resume;
  loop.config_yaml = cfg.to_yaml();
  loop.dataset = cfg.dataset;
  loop.resume_guard = [cfg](const engine::CheckpointState& state, bool after_divergence) {
    return resume_mismatch(cfg, state, after_divergence);
  };
  loop.progress = run.progress;
  loop.label = "mocov3";
  loop.log = run.log;
  return loop;
}

// ---- per-iteration and per-epoch figures and monitors ----

// Gradient groups: the patch projection (where the paper sees spikes start), first and last block, the rest.
engine::GradMonitor gradient_monitor(const MoCoV3Config& cfg, Trainee& t) {
  auto& backbone = t.model->base_encoder->backbone;
  std::set<const void*> grouped;
  auto collect = [&](const std::vector<torch::Tensor>& group_params) {
    std::vector<torch::Tensor> keep;
    for (const auto& p : group_params) {
      if (grouped.insert(p.unsafeGetTensorImpl()).second) keep.push_back(p);
    }
    return keep;
  };
  std::vector<engine::GradGroup> groups;
  groups.emplace_back("patch_embed", collect(backbone->patch_embed->parameters()));
  groups.emplace_back("block_first", collect(backbone->blocks[0]->parameters()));
  groups.emplace_back("block_last", collect(backbone->blocks[backbone->options.depth() - 1]->parameters()));
  groups.emplace_back("other", collect(t.model->trainable_parameters()));
  return engine::GradMonitor(std::move(groups), engine::GradMonitorOptions()
                                                    .window(cfg.spike_window)
                                                    .spike_factor(cfg.spike_factor)
                                                    .min_history(std::min<int64_t>(10, cfg.spike_window)));
}

// The iteration's metrics line: schedules, loss, gradient norms per group and the spikes this step raised.
Json iteration_record(engine::GradMonitor& monitor, const engine::StepContext& ctx) {
  const auto norms = monitor.record(ctx.step);
  Json grad = Json::object();
  for (const auto& [name, value] : norms) grad[name] = value;
  Json spikes = Json::array();
  const auto& events = monitor.events();
  auto from = events.end();
  while (from != events.begin() && std::prev(from)->step == ctx.step) --from;  // this step's events are last
  for (auto e = from; e != events.end(); ++e) {
    spikes.push_back(
        Json{{"kind", engine::to_string(e->kind)}, {"group", e->group}, {"value", e->value}, {"median", e->median}});
  }
  return Json{{"type", "iter"},           {"step", ctx.step}, {"epoch", ctx.epoch}, {"lr", ctx.lr},
              {"momentum", ctx.momentum}, {"loss", ctx.loss}, {"grad", grad},       {"spikes", spikes}};
}

// The weighted kNN monitor: the first knn_train training images as the bank, the first knn_test test images as
// queries.
double knn_monitor(const MoCoV3Config& cfg, const RunInputs& in, vit::VisionTransformer& backbone) {
  const auto bank_images = in.train.images.slice(0, 0, std::min(cfg.knn_train, in.train.size()));
  const auto query_images = in.test.images.slice(0, 0, std::min(cfg.knn_test, in.test.size()));
  const auto bank = extract_features(backbone, bank_images, in.mean, in.std, 1, cfg.eval_batch);
  const auto queries = extract_features(backbone, query_images, in.mean, in.std, 1, cfg.eval_batch);
  return knn_accuracy(bank, in.train.labels.slice(0, 0, bank.size(0)), queries,
                      in.test.labels.slice(0, 0, queries.size(0)), in.num_classes, std::min(cfg.knn_k, bank.size(0)),
                      cfg.knn_t);
}

// @brief The hooks of a MoCo v3 run: the iteration lines, the progress text, and each epoch's mean loss and kNN.
class EpochFigures {
 public:
  EpochFigures(const MoCoV3Config& cfg, const RunInputs& in, Trainee& t, engine::GradMonitor& monitor,
               int64_t per_epoch, const engine::LogSink& log)
      : cfg_(cfg), in_(in), t_(t), monitor_(monitor), per_epoch_(per_epoch), log_(log) {}

  engine::LoopHooks hooks(engine::TrainingLoop& trainer) {
    engine::LoopHooks h;
    h.after_backward = [this](engine::StepContext& ctx) { ctx.record = iteration_record(monitor_, ctx); };
    h.after_step = [this](engine::StepContext& ctx) { after_step(ctx); };
    h.end_of_epoch = [this, &trainer](int64_t epoch, bool complete) { end_of_epoch(trainer, epoch, complete); };
    return h;
  }
  double last_knn() const { return knn_; }

 private:
  void after_step(engine::StepContext& ctx) {
    loss_sum_ += ctx.loss;
    ++loss_count_;
    std::ostringstream status;
    status << "epoch " << ctx.epoch + 1 << "/" << cfg_.max_epoch << " loss " << std::fixed << std::setprecision(4)
           << ctx.loss << " lr " << std::scientific << std::setprecision(2) << ctx.lr;
    ctx.status = status.str();
  }
  void end_of_epoch(engine::TrainingLoop& trainer, int64_t epoch, bool complete) {
    const int64_t total_steps = cfg_.max_epoch * per_epoch_;
    const int64_t steps_done = std::min((epoch + 1) * per_epoch_, trainer.stop_step());
    const double mean_loss = loss_count_ ? loss_sum_ / static_cast<double>(loss_count_) : NAN;
    Json line{{"type", "epoch"},      {"epoch", epoch},         {"step", steps_done},
              {"complete", complete}, {"loss_mean", mean_loss}, {"seconds", seconds_since(epoch_t0_)}};
    std::string knn_text;
    if (complete && cfg_.knn_every > 0 && ((epoch + 1) % cfg_.knn_every == 0 || steps_done == total_steps)) {
      knn_ = knn_monitor(cfg_, in_, t_.model->base_encoder->backbone);
      t_.model->train();
      line["knn"] = knn_;
      knn_text = ", kNN " + percent(knn_) + "%";
    }
    trainer.metrics().write(line);
    engine::log_info(log_, "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg_.max_epoch) + ": loss " +
                               number(mean_loss) + knn_text + " (" + number(seconds_since(epoch_t0_)) + " s)");
    loss_sum_ = 0.0;
    loss_count_ = 0;
    epoch_t0_ = Clock::now();
  }

  const MoCoV3Config& cfg_;
  const RunInputs& in_;
  Trainee& t_;
  engine::GradMonitor& monitor_;
  int64_t per_epoch_;
  const engine::LogSink& log_;
  double loss_sum_ = 0.0;
  int64_t loss_count_ = 0;
  double knn_ = -1.0;
  Clock::time_point epoch_t0_ = Clock::now();
};

// ---- the final probe and the results ----

// The linear probe on the frozen backbone's last probe_blocks class-token outputs.
eval::ProbeResult final_probe(const MoCoV3Config& cfg, const RunInputs& in, vit::VisionTransformer& backbone) {
  const int64_t n_probe = in.probe_rows(cfg);
  const auto train_features = extract_features(backbone, in.train.images.slice(0, 0, n_probe), in.mean, in.std,
                                               cfg.probe_blocks, cfg.eval_batch);
  const auto test_features =
      extract_features(backbone, in.test.images, in.mean, in.std, cfg.probe_blocks, cfg.eval_batch);
  return image_linear_probe(train_features, in.train.labels.slice(0, 0, n_probe), test_features, in.test.labels,
                            in.num_classes, cfg.probe_options());
}

// The final metrics line, also written as result.json.
void write_results(engine::TrainingLoop& trainer, const fs::path& out, const RunResult& result,
                   const eval::ProbeResult& probe) {
  Json spike_counts = Json::object();
  for (const auto& [group, count] : result.spikes) spike_counts[group] = count;
  const Json fin{{"type", "final"},
                 {"mode", "train"},
                 {"steps", result.steps},
                 {"linear_probe", probe.test_acc},
                 {"probe_val", probe.best_val_acc},
                 {"probe_best_epoch", probe.best_epoch},
                 {"knn", result.knn},
                 {"diverged", false},
                 {"spikes", spike_counts},
                 {"train_seconds", result.train_seconds},
                 {"probe_seconds", result.probe_seconds}};
  trainer.metrics().write(fin);
  util::atomic_write_text(out / "result.json", fin.dump() + "\n");
}

RunResult pretrain_and_probe(const MoCoV3Config& cfg, const RunOptions& run, const RunInputs& in) {
  // The run's draws (initialisation, training, probe) are torch::manual_seed(cfg.seed)'s; the caller's generators
  // are given back when it ends.
  const engine::SeedScope seeded(static_cast<uint64_t>(cfg.seed));
  Trainee t = build_trainee(cfg, in);
  auto loader = make_loader(cfg, in);
  const int64_t per_epoch = loader.batches_per_epoch();
  const auto ckpt = run.out / "checkpoint.pt";
  if (run.resume && !fs::is_regular_file(ckpt)) throw std::runtime_error("--resume: no checkpoint at " + ckpt.string());
  engine::TrainingLoop trainer(loop_options(cfg, run, per_epoch, t.lr), *t.model, *t.optimizer, t.params,
                               {t.momentum_encoder.get()});
  if (trainer.resumed()) {
    engine::log_info(run.log,
                     "resumed from " + ckpt.string() + " at iteration " + std::to_string(trainer.start_step()));
    trainer.metrics().write(Json{{"type", "resume"}, {"step", trainer.start_step()}});
  }
  auto monitor = gradient_monitor(cfg, t);
  engine::log_info(
      run.log, describe(cfg, t, cfg.train_subset > 0 ? std::min(cfg.train_subset, in.train.size()) : in.train.size(),
                        per_epoch));
  EpochFigures figures(cfg, in, t, monitor, per_epoch, run.log);
  auto step = [&](engine::StepContext& ctx) {
    const auto batch = loader.batch(ctx.epoch, ctx.step_in_epoch);
    return engine::StepOutput{t.model->forward(batch.view1, batch.view2), {}};
  };
  RunResult result;
  const auto train_t0 = Clock::now();
  const auto done = trainer.run(step, figures.hooks(trainer));  // throws engine::TrainingDiverged on a NaN loss
  result.steps = done.steps_done;
  result.train_seconds = seconds_since(train_t0);
  result.spikes = monitor.spike_counts();
  result.knn = figures.last_knn();

  const auto probe_t0 = Clock::now();
  const auto probe = final_probe(cfg, in, t.model->base_encoder->backbone);
  result.linear_probe = probe.test_acc;
  result.probe_seconds = seconds_since(probe_t0);
  write_results(trainer, run.out, result, probe);
  return result;
}

}  // namespace

RunResult run_mocov3(const MoCoV3Config& cfg, const RunOptions& options) {
  cfg.validate();
  if (cfg.data_root.empty()) {
    throw std::invalid_argument("config: data_root is empty (a folder with {train,t10k}-*-ubyte[.gz] files)");
  }
  fs::create_directories(options.out);
  const auto inputs = load_inputs(cfg);
  engine::log_info(options.log, describe(cfg, inputs));
  util::atomic_write_text(options.out / "config.yaml", cfg.to_yaml());
  if (cfg.mode == RunMode::raw_pixels) return probe_raw_pixels(cfg, inputs, options.out);
  return pretrain_and_probe(cfg, options, inputs);
}

}  // namespace graphmae2::models::mocov3
