#include "models/mocov3/experiment.h"

#include "datasets/augment.h"
#include "datasets/idx.h"
#include "models/engine/grad_monitor.h"
#include "models/engine/loop.h"
#include "models/mocov3/evaluate.h"
#include "models/ssl/ema.h"
#include "util/atomic_file.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>
#include <stdexcept>

namespace graphmae2::models::mocov3 {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
using engine::Json;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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

// Keys a resumed run may change: they do not change what pre-training computes.
const std::vector<std::string> kKeysNotAffectingTraining{
    "threads",  "knn_every",          "knn_k",      "knn_t",            "knn_train", "knn_test",
    "probe_blocks", "probe_train",    "probe_epochs", "probe_lr",       "probe_weight_decay",
    "eval_batch", "checkpoint_every", "max_steps",  "data_root"};

}  // namespace

RunResult run_mocov3(const MoCoV3Config& cfg, const fs::path& out, bool resume, bool show_progress) {
  cfg.validate();
  if (cfg.data_root.empty()) throw std::invalid_argument("config: data_root is empty (a folder with {train,t10k}-*-ubyte[.gz] files)");
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  fs::create_directories(out);
  engine::ProgressBar messages("mocov3", 0, show_progress);
  RunResult result;

  const auto train = datasets::load_idx_image_dataset(cfg.data_root, "train", cfg.dataset);
  const auto test = datasets::load_idx_image_dataset(cfg.data_root, "t10k", cfg.dataset);
  TORCH_CHECK(train.images.sizes().slice(1) == test.images.sizes().slice(1), "train images are ",
              train.images.sizes(), " but test images are ", test.images.sizes());
  TORCH_CHECK(train.images.size(2) == train.images.size(3), "images must be square, got ", train.images.sizes());
  const int64_t num_classes = std::max(train.num_classes, test.num_classes);
  const auto pixels = train.images.to(torch::kFloat32).div_(255.0);
  const double mean = pixels.mean().item<double>();
  const double std = pixels.std().item<double>();
  messages.message(cfg.dataset + ": " + std::to_string(train.size()) + " train / " + std::to_string(test.size()) +
                   " test images of " + std::to_string(train.images.size(2)) + "x" +
                   std::to_string(train.images.size(3)) + ", pixel mean " + number(mean) + " std " + number(std));
  util::atomic_write_text(out / "config.yaml", cfg.to_yaml());
  const auto probe_options = cfg.probe_options();

  if (cfg.mode == "raw-pixels") {
    engine::MetricsLog metrics(out / "metrics.jsonl", -1);
    const auto t0 = Clock::now();
    const int64_t n_probe = cfg.probe_train > 0 ? std::min(cfg.probe_train, train.size()) : train.size();
    const auto flat_train = train.images.slice(0, 0, n_probe).flatten(1).to(torch::kFloat32);
    const auto flat_test = test.images.flatten(1).to(torch::kFloat32);
    const auto probe = image_linear_probe(flat_train, train.labels.slice(0, 0, n_probe), flat_test, test.labels,
                                          num_classes, probe_options);
    result.linear_probe = probe.test_acc;
    result.probe_seconds = seconds_since(t0);
    metrics.write(Json{{"type", "final"}, {"mode", "raw-pixels"}, {"linear_probe", probe.test_acc},
                       {"probe_best_epoch", probe.best_epoch}});
    util::atomic_write_text(out / "result.json", Json{{"mode", "raw-pixels"},
                                                      {"linear_probe", probe.test_acc},
                                                      {"probe_seconds", result.probe_seconds}}
                                                         .dump() +
                                                     "\n");
    return result;
  }

  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  MoCoV3Options options;
  try {
    options = cfg.model_options(train.images.size(2), train.images.size(1));
  } catch (const c10::Error& e) {
    throw std::invalid_argument(std::string("configuration: ") + e.what_without_backtrace());
  }
  MoCoV3 model(options);
  const double lr = cfg.lr * static_cast<double>(cfg.batch_size) / 256.0;
  auto params = model->trainable_parameters();
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(lr).weight_decay(cfg.weight_decay));
  ssl::EmaUpdater momentum_encoder(model->base_encoder.ptr(), model->momentum_encoder.ptr());

  const auto pretrain_images =
      cfg.train_subset > 0 ? train.images.slice(0, 0, std::min(cfg.train_subset, train.size())) : train.images;
  auto view1 = datasets::mocov3_view1(train.images.size(2))
                   .crop_min_scale(cfg.crop_min)
                   .brightness(cfg.jitter)
                   .contrast(cfg.jitter)
                   .blur_sigma_max(cfg.blur_sigma_max);
  auto view2 = datasets::mocov3_view2(train.images.size(2))
                   .crop_min_scale(cfg.crop_min)
                   .brightness(cfg.jitter)
                   .contrast(cfg.jitter)
                   .blur_sigma_max(cfg.blur_sigma_max)
                   .solarize_prob(cfg.solarize_prob);
  datasets::TwoViewLoader loader(pretrain_images, datasets::TwoViewLoaderOptions()
                                                      .batch_size(cfg.batch_size)
                                                      .seed(static_cast<uint64_t>(cfg.seed))
                                                      .mean(mean)
                                                      .std(std)
                                                      .view1(view1)
                                                      .view2(view2));
  const int64_t per_epoch = loader.batches_per_epoch();
  const int64_t total_steps = cfg.epochs * per_epoch;

  const auto ckpt = out / "checkpoint.pt";
  if (resume && !fs::is_regular_file(ckpt)) throw std::runtime_error("--resume: no checkpoint at " + ckpt.string());
  engine::LoopOptions loop;
  loop.model_name = "mocov3";
  loop.epochs = cfg.epochs;
  loop.steps_per_epoch = per_epoch;
  loop.max_steps = cfg.max_steps;
  // Per iteration: linear warm-up, then a half-cosine, over fractional epochs (main_moco.py adjust_learning_rate).
  loop.lr_at = [&](int64_t step) {
    const double epoch_f = static_cast<double>(step / per_epoch) +
                           static_cast<double>(step % per_epoch) / static_cast<double>(per_epoch);
    return engine::warmup_cosine(lr, epoch_f, cfg.warmup_epochs, static_cast<double>(cfg.epochs));
  };
  loop.momentum_at = [&](int64_t step) {
    return cfg.moco_m_cos ? ssl::cosine_momentum(cfg.moco_m, step, total_steps) : cfg.moco_m;
  };
  loop.ema_timing = engine::EmaTiming::after_optimizer_step;
  loop.run_dir = out;
  loop.save_every_steps = cfg.checkpoint_every;
  loop.save_every_minutes = 10;
  loop.resume_hint = "the same mocov3-train command with --resume";
  loop.save_each_epoch = true;
  loop.resume = resume;
  loop.config_yaml = cfg.to_yaml();
  loop.dataset = cfg.dataset;
  loop.resume_guard = [&cfg](const engine::CheckpointState& state, bool after_divergence) -> std::string {
    const auto previous = mocov3_config_from_yaml_text(state.config_yaml, "the checkpoint's config");
    auto free_keys = kKeysNotAffectingTraining;
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
  };
  loop.progress = show_progress;
  loop.label = "mocov3";
  loop.stop_on_divergence = true;
  engine::TrainingLoop trainer(loop, *model, optimizer, params, {&momentum_encoder});
  if (trainer.resumed()) {
    messages.message("resumed from " + ckpt.string() + " at iteration " + std::to_string(trainer.start_step()));
    trainer.metrics().write(Json{{"type", "resume"}, {"step", trainer.start_step()}});
  }

  // Gradient groups: the patch projection (where the paper sees spikes start), first and last block, the rest.
  auto& backbone = model->base_encoder->backbone;
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
  groups.emplace_back("other", collect(model->trainable_parameters()));
  engine::GradMonitor monitor(std::move(groups), engine::GradMonitorOptions()
                                                     .window(cfg.spike_window)
                                                     .spike_factor(cfg.spike_factor)
                                                     .min_history(std::min<int64_t>(10, cfg.spike_window)));
  std::ostringstream desc;
  desc << "ViT " << options.backbone().embed_dim() << "d x " << options.backbone().depth() << " blocks, "
       << options.backbone().num_heads() << " heads, patch " << options.backbone().patch_size() << " ("
       << options.backbone().num_patches() << " tokens), pos " << vit::to_string(options.backbone().pos_embed())
       << ", pool " << vit::to_string(options.backbone().pooling())
       << (cfg.stop_grad_conv1 ? ", frozen patch projection" : "") << "; " << pretrain_images.size(0)
       << " images, " << per_epoch << " iterations/epoch, lr " << lr;
  messages.message(desc.str());

  auto knn_monitor = [&]() {
    auto& bb = model->base_encoder->backbone;
    const auto bank_images = train.images.slice(0, 0, std::min(cfg.knn_train, train.size()));
    const auto query_images = test.images.slice(0, 0, std::min(cfg.knn_test, test.size()));
    const auto bank = extract_features(bb, bank_images, mean, std, 1, cfg.eval_batch);
    const auto queries = extract_features(bb, query_images, mean, std, 1, cfg.eval_batch);
    return knn_accuracy(bank, train.labels.slice(0, 0, bank.size(0)), queries,
                        test.labels.slice(0, 0, queries.size(0)), num_classes,
                        std::min(cfg.knn_k, bank.size(0)), cfg.knn_t);
  };

  double loss_sum = 0.0;
  int64_t loss_count = 0;
  auto epoch_t0 = Clock::now();
  auto step = [&](engine::StepContext& ctx) {
    const auto batch = loader.batch(ctx.epoch, ctx.step_in_epoch);
    return engine::StepOutput{model->forward(batch.view1, batch.view2), {}};
  };
  engine::LoopHooks hooks;
  hooks.after_backward = [&](engine::StepContext& ctx) {
    const auto norms = monitor.record(ctx.step);
    Json grad = Json::object();
    for (const auto& [name, value] : norms) grad[name] = value;
    Json spikes = Json::array();
    const auto& events = monitor.events();
    auto from = events.end();
    while (from != events.begin() && std::prev(from)->step == ctx.step) --from;  // this step's events are last
    for (auto e = from; e != events.end(); ++e) {
      spikes.push_back(Json{{"kind", engine::to_string(e->kind)}, {"group", e->group}, {"value", e->value},
                            {"median", e->median}});
    }
    ctx.record = Json{{"type", "iter"}, {"step", ctx.step}, {"epoch", ctx.epoch}, {"lr", ctx.lr},
                      {"momentum", ctx.momentum}, {"loss", ctx.loss}, {"grad", grad}, {"spikes", spikes}};
  };
  hooks.after_step = [&](engine::StepContext& ctx) {
    loss_sum += ctx.loss;
    ++loss_count;
    std::ostringstream status;
    status << "epoch " << ctx.epoch + 1 << "/" << cfg.epochs << " loss " << std::fixed << std::setprecision(4)
           << ctx.loss << " lr " << std::scientific << std::setprecision(2) << ctx.lr;
    ctx.status = status.str();
  };
  hooks.end_of_epoch = [&](int64_t epoch, bool complete) {
    const int64_t steps_done = std::min((epoch + 1) * per_epoch, trainer.stop_step());
    const double mean_loss = loss_count ? loss_sum / static_cast<double>(loss_count) : NAN;
    Json line{{"type", "epoch"},          {"epoch", epoch},          {"step", steps_done},
              {"complete", complete},     {"loss_mean", mean_loss}, {"seconds", seconds_since(epoch_t0)}};
    std::string knn_text;
    if (complete && cfg.knn_every > 0 && ((epoch + 1) % cfg.knn_every == 0 || steps_done == total_steps)) {
      result.knn = knn_monitor();
      model->train();
      line["knn"] = result.knn;
      knn_text = ", kNN " + percent(result.knn) + "%";
    }
    trainer.metrics().write(line);
    trainer.progress().message("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + ": loss " +
                               number(mean_loss) + knn_text + " (" + number(seconds_since(epoch_t0)) + " s)");
    loss_sum = 0.0;
    loss_count = 0;
    epoch_t0 = Clock::now();
  };
  const auto train_t0 = Clock::now();
  const auto run = trainer.run(step, hooks);
  result.diverged = run.diverged;
  result.steps = run.steps_done;
  result.train_seconds = seconds_since(train_t0);
  result.spikes = monitor.spike_counts();

  const auto probe_t0 = Clock::now();
  auto& bb = model->base_encoder->backbone;
  const int64_t n_probe = cfg.probe_train > 0 ? std::min(cfg.probe_train, train.size()) : train.size();
  const auto train_features =
      extract_features(bb, train.images.slice(0, 0, n_probe), mean, std, cfg.probe_blocks, cfg.eval_batch);
  const auto test_features = extract_features(bb, test.images, mean, std, cfg.probe_blocks, cfg.eval_batch);
  const auto probe = image_linear_probe(train_features, train.labels.slice(0, 0, n_probe), test_features, test.labels,
                                        num_classes, probe_options);
  result.linear_probe = probe.test_acc;
  result.probe_seconds = seconds_since(probe_t0);

  Json spike_counts = Json::object();
  for (const auto& [group, count] : result.spikes) spike_counts[group] = count;
  const Json fin{{"type", "final"},
                 {"mode", "train"},
                 {"steps", result.steps},
                 {"linear_probe", probe.test_acc},
                 {"probe_val", probe.best_val_acc},
                 {"probe_best_epoch", probe.best_epoch},
                 {"knn", result.knn},
                 {"diverged", result.diverged},
                 {"spikes", spike_counts},
                 {"train_seconds", result.train_seconds},
                 {"probe_seconds", result.probe_seconds}};
  trainer.metrics().write(fin);
  util::atomic_write_text(out / "result.json", fin.dump() + "\n");
  return result;
}

}  // namespace graphmae2::models::mocov3
