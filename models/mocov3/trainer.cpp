#include "models/mocov3/trainer.h"

#include "datasets/augment.h"
#include "datasets/idx.h"
#include "models/mocov3/evaluate.h"
#include "models/ssl/ema.h"
#include "models/train/grad_monitor.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>
#include <stdexcept>

namespace graphmae2::models::mocov3 {
namespace fs = std::filesystem;

double learning_rate_at(double lr, double epoch, double warmup_epochs, int64_t epochs) {
  if (epoch < warmup_epochs) return lr * epoch / warmup_epochs;
  const double span = static_cast<double>(epochs) - warmup_epochs;
  if (span <= 0.0) return lr;
  return lr * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, (epoch - warmup_epochs) / span)));
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream os;
  os << std::setprecision(7) << v;
  return os.str();
}

void write_text_atomic(const fs::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream os(tmp, std::ios::trunc);
    if (!os) throw std::runtime_error(tmp + ": cannot open for writing");
    os << text;
    if (!os) throw std::runtime_error(tmp + ": write failed");
  }
  fs::rename(tmp, path);
}

void save_checkpoint(const fs::path& path, MoCoV3& model, torch::optim::Optimizer& optimizer, int64_t step,
                     const MoCoV3Config& cfg) {
  torch::serialize::OutputArchive archive, model_archive, optim_archive;
  model->save(model_archive);
  optimizer.save(optim_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optim_archive);
  archive.write("step", torch::tensor(step, torch::kInt64));
  archive.write("config", c10::IValue(cfg.to_yaml()));
  const auto tmp = path.string() + ".tmp";
  archive.save_to(tmp);
  fs::rename(tmp, path);
}

int64_t load_checkpoint(const fs::path& path, MoCoV3& model, torch::optim::Optimizer& optimizer,
                        const MoCoV3Config& cfg) {
  if (!fs::is_regular_file(path)) throw std::runtime_error("--resume: no checkpoint at " + path.string());
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error(path.string() + ": not a readable checkpoint: " + e.what_without_backtrace());
  }
  c10::IValue stored;
  if (!archive.try_read("config", stored) || !stored.isString()) {
    throw std::runtime_error(path.string() + ": checkpoint has no stored config");
  }
  const auto previous = mocov3_config_from_yaml_text(stored.toStringRef(), path.string() + " (stored config)");
  const auto diff = differing_keys(previous, cfg,
                                   {"threads", "knn_every", "knn_k", "knn_t", "knn_train", "knn_test", "probe_blocks", "probe_train",
                                    "probe_epochs", "probe_lr", "probe_weight_decay", "eval_batch", "checkpoint_every",
                                    "max_steps", "data_root"});
  if (!diff.empty()) {
    std::string keys;
    for (const auto& k : diff) keys += (keys.empty() ? "" : ", ") + k;
    throw std::invalid_argument("--resume: " + path.string() + " was written with a different configuration (" + keys +
                                "); resume with the same config or start a new --out");
  }
  torch::serialize::InputArchive model_archive, optim_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optim_archive);
  model->load(model_archive);
  optimizer.load(optim_archive);
  torch::Tensor step;
  archive.read("step", step);
  return step.item<int64_t>();
}

/// Appends JSON lines to out/metrics.jsonl, one flush per line so a killed run keeps its log.
class MetricsLog {
 public:
  explicit MetricsLog(const fs::path& path) : os_(path, std::ios::app) {
    if (!os_) throw std::runtime_error(path.string() + ": cannot open for appending");
  }
  void line(const std::string& json) { os_ << json << "\n" << std::flush; }

 private:
  std::ofstream os_;
};

class Progress {
 public:
  Progress(std::ostream& os, bool tty) : os_(os), tty_(tty) {}
  void update(int64_t epoch, int64_t epochs, int64_t it, int64_t per_epoch, double loss, double lr,
              double elapsed_epoch) {
    const int64_t done = it + 1;
    if (!tty_) {
      // Logs are files here: a line every 10% of an epoch.
      const int64_t every = std::max<int64_t>(1, per_epoch / 10);
      if (done % every != 0 && done != per_epoch) return;
    }
    const int width = 30;
    const int filled = static_cast<int>(width * done / std::max<int64_t>(1, per_epoch));
    const double eta = elapsed_epoch / static_cast<double>(done) * static_cast<double>(per_epoch - done);
    std::ostringstream line;
    line << "epoch " << epoch + 1 << "/" << epochs << " [" << std::string(filled, '=')
         << std::string(width - filled, ' ') << "] " << done << "/" << per_epoch << " loss " << std::fixed
         << std::setprecision(4) << loss << " lr " << std::scientific << std::setprecision(2) << lr << " eta "
         << std::fixed << std::setprecision(0) << eta << "s";
    if (tty_) {
      os_ << "\r" << line.str() << "\x1b[K" << std::flush;
    } else {
      os_ << line.str() << "\n" << std::flush;
    }
  }
  void message(const std::string& text) {
    if (tty_) os_ << "\r\x1b[K";
    os_ << text << "\n" << std::flush;
  }

 private:
  std::ostream& os_;
  bool tty_;
};

std::string percent(double acc) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(2) << 100.0 * acc;
  return os.str();
}

}  // namespace

RunResult run_mocov3(const MoCoV3Config& cfg, const fs::path& out, bool resume, std::ostream& progress_stream,
                     bool progress_is_tty) {
  cfg.validate();
  if (cfg.threads > 0) torch::set_num_threads(static_cast<int>(cfg.threads));
  fs::create_directories(out);
  Progress progress(progress_stream, progress_is_tty);
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
  progress.message(cfg.dataset + ": " + std::to_string(train.size()) + " train / " + std::to_string(test.size()) +
                   " test images of " + std::to_string(train.images.size(2)) + "x" +
                   std::to_string(train.images.size(3)) + ", pixel mean " + json_number(mean) + " std " +
                   json_number(std));
  write_text_atomic(out / "config.yaml", cfg.to_yaml());
  MetricsLog metrics(out / "metrics.jsonl");
  eval::ProbeOptions probe_options;
  probe_options.lr = cfg.probe_lr;
  probe_options.weight_decay = cfg.probe_weight_decay;
  probe_options.max_epoch = cfg.probe_epochs;
  probe_options.seed = static_cast<uint64_t>(cfg.seed);

  if (cfg.mode == "raw-pixels") {
    const auto t0 = Clock::now();
    const int64_t n_probe = cfg.probe_train > 0 ? std::min(cfg.probe_train, train.size()) : train.size();
    const auto flat_train = train.images.slice(0, 0, n_probe).flatten(1).to(torch::kFloat32);
    const auto flat_test = test.images.flatten(1).to(torch::kFloat32);
    const auto probe = image_linear_probe(flat_train, train.labels.slice(0, 0, n_probe), flat_test, test.labels,
                                          num_classes, probe_options);
    result.linear_probe = probe.test_acc;
    result.probe_seconds = seconds_since(t0);
    metrics.line("{\"type\":\"final\",\"mode\":\"raw-pixels\",\"linear_probe\":" + json_number(probe.test_acc) +
                 ",\"probe_best_epoch\":" + std::to_string(probe.best_epoch) + "}");
    write_text_atomic(out / "result.json", "{\"mode\":\"raw-pixels\",\"linear_probe\":" + json_number(probe.test_acc) +
                                               ",\"probe_seconds\":" + json_number(result.probe_seconds) + "}\n");
    return result;
  }

  torch::manual_seed(static_cast<uint64_t>(cfg.seed));
  const auto options = cfg.model_options(train.images.size(2), train.images.size(1));
  MoCoV3 model(options);
  const double lr = cfg.lr * static_cast<double>(cfg.batch_size) / 256.0;
  torch::optim::AdamW optimizer(model->trainable_parameters(),
                                torch::optim::AdamWOptions(lr).weight_decay(cfg.weight_decay));

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

  int64_t step = 0;
  const auto ckpt = out / "checkpoint.pt";
  if (resume) {
    step = load_checkpoint(ckpt, model, optimizer, cfg);
    progress.message("resumed from " + ckpt.string() + " at iteration " + std::to_string(step));
    metrics.line("{\"type\":\"resume\",\"step\":" + std::to_string(step) + "}");
  }

  // Gradient groups: the patch projection (where the paper sees spikes start), first and last block, the rest.
  auto& backbone = model->base_encoder->backbone;
  std::set<const void*> grouped;
  auto collect = [&](const std::vector<torch::Tensor>& params) {
    std::vector<torch::Tensor> keep;
    for (const auto& p : params) {
      if (grouped.insert(p.unsafeGetTensorImpl()).second) keep.push_back(p);
    }
    return keep;
  };
  std::vector<train::GradGroup> groups;
  groups.emplace_back("patch_embed", collect(backbone->patch_embed->parameters()));
  groups.emplace_back("block_first", collect(backbone->blocks[0]->parameters()));
  groups.emplace_back("block_last", collect(backbone->blocks[backbone->options.depth() - 1]->parameters()));
  groups.emplace_back("other", collect(model->trainable_parameters()));
  train::GradMonitor monitor(std::move(groups), train::GradMonitorOptions()
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
  progress.message(desc.str());

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

  const auto train_t0 = Clock::now();
  model->train();
  const int64_t stop_at = cfg.max_steps > 0 ? std::min(total_steps, cfg.max_steps) : total_steps;
  while (step < stop_at && !result.diverged) {
    const int64_t epoch = step / per_epoch;
    const auto epoch_t0 = Clock::now();
    double loss_sum = 0.0;
    int64_t loss_count = 0;
    for (int64_t it = step % per_epoch; it < per_epoch && step < stop_at; ++it) {
      const double epoch_f = static_cast<double>(epoch) + static_cast<double>(it) / static_cast<double>(per_epoch);
      const double lr_now = learning_rate_at(lr, epoch_f, cfg.warmup_epochs, cfg.epochs);
      for (auto& group : optimizer.param_groups()) {
        static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr_now);
      }
      const double m = cfg.moco_m_cos ? ssl::cosine_momentum(cfg.moco_m, step, total_steps) : cfg.moco_m;
      const auto batch = loader.batch(epoch, it);
      auto loss = model->forward(batch.view1, batch.view2);
      const double loss_value = loss.item<double>();
      optimizer.zero_grad();
      loss.backward();
      const auto norms = monitor.record(step);
      std::ostringstream line;
      line << "{\"type\":\"iter\",\"step\":" << step << ",\"epoch\":" << epoch << ",\"lr\":" << json_number(lr_now)
           << ",\"momentum\":" << json_number(m) << ",\"loss\":" << json_number(loss_value) << ",\"grad\":{";
      bool first = true;
      for (const auto& [name, value] : norms) {
        line << (first ? "" : ",") << "\"" << name << "\":" << json_number(value);
        first = false;
      }
      line << "},\"spikes\":[";
      first = true;
      const auto& events = monitor.events();
      auto from = events.end();
      while (from != events.begin() && std::prev(from)->step == step) --from;  // this step's events are last
      for (auto e_it = from; e_it != events.end(); ++e_it) {
        const auto& e = *e_it;
        line << (first ? "" : ",") << "{\"kind\":\"" << train::to_string(e.kind) << "\",\"group\":\"" << e.group
             << "\",\"value\":" << json_number(e.value) << ",\"median\":" << json_number(e.median) << "}";
        first = false;
      }
      line << "]}";
      metrics.line(line.str());
      if (!std::isfinite(loss_value)) {
        result.diverged = true;
        progress.message("loss is " + std::to_string(loss_value) + " at iteration " + std::to_string(step) +
                         ": training diverged, stopping");
        break;
      }
      optimizer.step();
      model->update_momentum_encoder(m);
      ++step;
      loss_sum += loss_value;
      ++loss_count;
      progress.update(epoch, cfg.epochs, it, per_epoch, loss_value, lr_now, seconds_since(epoch_t0));
      if (cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0 && step % per_epoch != 0) {
        save_checkpoint(ckpt, model, optimizer, step, cfg);
      }
    }
    if (result.diverged) break;
    const bool epoch_done = step % per_epoch == 0;
    save_checkpoint(ckpt, model, optimizer, step, cfg);
    std::ostringstream line;
    line << "{\"type\":\"epoch\",\"epoch\":" << epoch << ",\"step\":" << step << ",\"complete\":"
         << (epoch_done ? "true" : "false") << ",\"loss_mean\":"
         << json_number(loss_count ? loss_sum / static_cast<double>(loss_count) : NAN)
         << ",\"seconds\":" << json_number(seconds_since(epoch_t0));
    std::string knn_text;
    if (epoch_done && cfg.knn_every > 0 && ((epoch + 1) % cfg.knn_every == 0 || step == total_steps)) {
      result.knn = knn_monitor();
      model->train();
      line << ",\"knn\":" << json_number(result.knn);
      knn_text = ", kNN " + percent(result.knn) + "%";
    }
    line << "}";
    metrics.line(line.str());
    progress.message("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(cfg.epochs) + ": loss " +
                     json_number(loss_count ? loss_sum / static_cast<double>(loss_count) : NAN) + knn_text + " (" +
                     json_number(seconds_since(epoch_t0)) + " s)");
  }
  result.steps = step;
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

  std::ostringstream spikes;
  spikes << "{";
  bool first = true;
  for (const auto& [group, count] : result.spikes) {
    spikes << (first ? "" : ",") << "\"" << group << "\":" << count;
    first = false;
  }
  spikes << "}";
  std::ostringstream fin;
  fin << "{\"type\":\"final\",\"mode\":\"train\",\"steps\":" << step << ",\"linear_probe\":"
      << json_number(probe.test_acc) << ",\"probe_val\":" << json_number(probe.best_val_acc)
      << ",\"probe_best_epoch\":" << probe.best_epoch << ",\"knn\":" << json_number(result.knn)
      << ",\"diverged\":" << (result.diverged ? "true" : "false") << ",\"spikes\":" << spikes.str()
      << ",\"train_seconds\":" << json_number(result.train_seconds)
      << ",\"probe_seconds\":" << json_number(result.probe_seconds) << "}";
  metrics.line(fin.str());
  write_text_atomic(out / "result.json", fin.str() + "\n");
  return result;
}

}  // namespace graphmae2::models::mocov3
