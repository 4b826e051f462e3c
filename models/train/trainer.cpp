#include "models/train/trainer.h"

#include "graph/transforms.h"
#include "models/ssl/ema.h"
#include "models/train/checkpoint.h"
#include "models/train/progress.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace graphmae2::models::train {

namespace {

bool is_planetoid(const std::string& name) { return name == "cora" || name == "citeseer" || name == "pubmed"; }

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, std::vector<torch::Tensor> params) {
  if (cfg.optimizer == "adamw") {
    return std::make_unique<torch::optim::AdamW>(params,
                                                 torch::optim::AdamWOptions(cfg.lr).weight_decay(cfg.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

double lr_at(const TrainConfig& cfg, int64_t epoch) {
  if (!cfg.scheduler || cfg.max_epoch == 0) return cfg.lr;
  return cfg.lr * (1.0 + std::cos(M_PI * static_cast<double>(epoch) / static_cast<double>(cfg.max_epoch))) * 0.5;
}

double momentum_at(const TrainConfig& cfg, int64_t epoch) {
  if (cfg.momentum_schedule == "cosine") return ssl::cosine_momentum(cfg.momentum, epoch, std::max<int64_t>(1, cfg.max_epoch));
  return cfg.momentum;
}

double grad_norm(const std::vector<torch::Tensor>& params) {
  double sq = 0;
  for (const auto& p : params) {
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  }
  return std::sqrt(sq);
}

std::string json_line(int64_t seed, int64_t epoch, const std::map<std::string, double>& figures) {
  std::ostringstream os;
  os << std::setprecision(8) << "{\"seed\": " << seed << ", \"epoch\": " << epoch;
  for (const auto& [k, v] : figures) {
    os << ", \"" << k << "\": ";
    if (std::isfinite(v)) {
      os << v;
    } else {
      os << "null";
    }
  }
  os << "}";
  return os.str();
}

// Keeps the metrics file consistent with the checkpoint a resumed run starts from.
void truncate_metrics(const std::filesystem::path& file, int64_t last_epoch) {
  if (!std::filesystem::exists(file)) return;
  std::ifstream in(file);
  std::string line, kept;
  while (std::getline(in, line)) {
    const auto pos = line.find("\"epoch\": ");
    if (pos == std::string::npos) continue;
    if (std::stoll(line.substr(pos + 9)) <= last_epoch) kept += line + "\n";
  }
  atomic_write_text(file, kept);
}

}  // namespace

std::string resolve_feature_norm(const TrainConfig& cfg, const std::string& dataset_name) {
  if (cfg.feature_norm != "auto") return cfg.feature_norm;
  if (is_planetoid(dataset_name)) return "row";
  if (dataset_name == "ogbn-arxiv" || dataset_name == "ogbn-papers100M") return "standard";
  return "none";
}

bool resolve_zero_init(const TrainConfig& cfg, const std::string& dataset_name) {
  if (cfg.zero_init_tokens == "auto") return is_planetoid(dataset_name);
  return cfg.zero_init_tokens == "true";
}

PreparedGraph prepare_inputs(const datasets::NodeDataset& data, const TrainConfig& cfg) {
  PreparedGraph out;
  const auto norm = resolve_feature_norm(cfg, data.name);
  if (norm == "row") {
    out.features = datasets::row_normalize(data.features);
  } else if (norm == "standard") {
    out.features = datasets::standardize(data.features);
  } else {
    out.features = data.features;
  }
  // The reference treats every graph as undirected (DGL's to_bidirected on the OGB graphs); Planetoid
  // readers already return symmetric graphs.
  const auto undirected = is_planetoid(data.name) ? data.graph : graph::symmetrize(data.graph);
  out.graph = graph::add_self_loops(graph::remove_self_loops(undirected));
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

graphmae2::GraphMAE2 build_model(const TrainConfig& cfg, int64_t in_dim, bool zero_init_tokens) {
  return graphmae2::GraphMAE2(graphmae2::GraphMAE2Options(in_dim)
                                  .num_hidden(cfg.num_hidden)
                                  .num_layers(cfg.num_layers)
                                  .num_dec_layers(cfg.num_dec_layers)
                                  .heads(cfg.num_heads)
                                  .out_heads(cfg.num_out_heads)
                                  .activation(cfg.activation)
                                  .feat_drop(cfg.in_drop)
                                  .attn_drop(cfg.attn_drop)
                                  .negative_slope(cfg.negative_slope)
                                  .residual(cfg.residual)
                                  .norm(cfg.norm)
                                  .zero_init_tokens(zero_init_tokens));
}

torch::Tensor embed(graphmae2::GraphMAE2& model, const PreparedGraph& input) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  auto emb = model->embed(input.graph, input.features, input.sparse());
  model->train(was_training);
  return emb;
}

TrainResult train_graphmae2(const TrainConfig& cfg, const PreparedGraph& input, bool zero_init_tokens, int64_t seed,
                            const TrainerOptions& options) {
  cfg.validate();
  torch::manual_seed(static_cast<uint64_t>(seed));
  TrainResult result;
  TORCH_CHECK(input.features.device() == options.device, "train_graphmae2: the inputs are on ",
              input.features.device(), " but training runs on ", options.device, " (use PreparedGraph::to)");
  auto model = build_model(cfg, input.features.size(1), zero_init_tokens);
  model->to(options.device);  // before the optimiser takes the parameters
  result.model = model;
  auto params = model->student_parameters();
  auto optimizer = make_optimizer(cfg, params);
  ssl::EmaUpdater ema_encoder(model->encoder.ptr(), model->encoder_ema.ptr());
  ssl::EmaUpdater ema_projector(model->projector.ptr(), model->projector_ema.ptr());

  const auto ckpt_path = options.seed_dir / "checkpoint.pt";
  const auto metrics_path = options.seed_dir / "metrics.jsonl";
  std::filesystem::create_directories(options.seed_dir);
  int64_t start_epoch = 0;
  if (options.resume && std::filesystem::exists(ckpt_path)) {
    auto meta = load_checkpoint(ckpt_path, *model, optimizer.get(), options.device);
    if (meta.config_yaml != cfg.to_yaml()) {
      throw std::runtime_error("--resume: " + ckpt_path.string() +
                               " was written with a different configuration; use another --out or the same flags");
    }
    start_epoch = meta.epoch;
    if (meta.rng_state.defined()) set_cpu_rng_state(meta.rng_state);
    if (options.device.is_cuda() && meta.cuda_rng_state.defined()) set_device_rng_state(options.device, meta.cuda_rng_state);
    truncate_metrics(metrics_path, start_epoch - 1);
  } else {
    std::error_code ec;
    std::filesystem::remove(metrics_path, ec);
  }

  graphmae2::LossConfig loss_cfg;
  loss_cfg.remask_method = cfg.remask_method;
  loss_cfg.loss_fn = cfg.loss_fn;
  loss_cfg.alpha_l = cfg.alpha_l;
  loss_cfg.lam = cfg.lam;
  loss_cfg.use_reconstruction = cfg.use_reconstruction;
  loss_cfg.use_latent = cfg.use_latent;
  loss_cfg.latent_loss = cfg.latent_loss;
  loss_cfg.infonce_tau = cfg.infonce_tau;

  const int64_t n = input.features.size(0);
  const auto targets = torch::arange(n, torch::TensorOptions().dtype(torch::kInt64).device(options.device));
  std::ofstream metrics(metrics_path, std::ios::app);
  ProgressBar bar(options.label, cfg.max_epoch, options.progress);
  const auto t0 = std::chrono::steady_clock::now();
  auto save = [&](int64_t epochs_done) {
    save_checkpoint(ckpt_path, *model, optimizer.get(),
                    Checkpoint{epochs_done, cfg.to_yaml(), cpu_rng_state(),
                               options.device.is_cuda() ? device_rng_state(options.device) : torch::Tensor()});
  };

  model->train();
  for (int64_t epoch = start_epoch; epoch < cfg.max_epoch; ++epoch) {
    const auto te = std::chrono::steady_clock::now();
    const double lr = lr_at(cfg, epoch);
    set_lr(*optimizer, lr);
    graphmae2::MaskPlan plan;
    plan.mask_nodes = graphmae2::random_subset(n, cfg.mask_rate, input.features.device());
    if (cfg.remask_method == "random") {
      for (int64_t v = 0; v < cfg.num_remasking; ++v) {
        plan.remask_nodes.push_back(graphmae2::random_subset(n, cfg.remask_rate, input.features.device()));
      }
    }
    auto losses = model->forward(input.graph, input.features, targets, plan, loss_cfg, input.sparse());
    const double total = losses.total.item<double>();
    if (!std::isfinite(total)) {
      bar.finish();
      throw TrainingDiverged("loss became " + std::to_string(total) + " at epoch " + std::to_string(epoch) +
                             " (seed " + std::to_string(seed) + "); the last good checkpoint is kept at " +
                             ckpt_path.string() + ". Lower lr, set max_grad_norm, or check the input features.");
    }
    // The reference moves the target after computing the losses and before the optimiser step, so the
    // target of the next step is built from this step's (pre-update) student.
    const double m = momentum_at(cfg, epoch);
    if (epoch >= cfg.delayed_ema_epoch) {
      ema_encoder.update(m);
      ema_projector.update(m);
    }
    optimizer->zero_grad();
    losses.total.backward();
    const double gnorm = grad_norm(params);
    if (cfg.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, cfg.max_grad_norm);
    optimizer->step();

    std::map<std::string, double> fig{{"loss", total},
                                      {"loss_rec", losses.reconstruction.item<double>()},
                                      {"loss_latent", losses.latent.item<double>()},
                                      {"lr", lr},
                                      {"momentum", m},
                                      {"grad_norm", gnorm},
                                      {"teacher_distance", ema_encoder.distance()},
                                      {"epoch_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - te).count()}};
    for (size_t v = 0; v < losses.per_view.size() && losses.per_view.size() > 1; ++v) {
      fig["loss_rec_view" + std::to_string(v)] = losses.per_view[v].item<double>();
    }
    if (options.on_embeddings && cfg.diag_every > 0 && ((epoch + 1) % cfg.diag_every == 0 || epoch == start_epoch)) {
      options.on_embeddings(epoch, embed(model, input));
    }
    if (options.on_epoch) options.on_epoch(epoch, fig);
    metrics << json_line(seed, epoch, fig) << "\n";
    metrics.flush();
    result.last = fig;
    ++result.epochs_run;
    std::ostringstream status;
    status << std::setprecision(4) << "loss " << total << " rec " << fig["loss_rec"] << " lat " << fig["loss_latent"]
           << " lr " << std::setprecision(3) << lr;
    bar.update(epoch + 1, status.str());
    if (cfg.save_every > 0 && (epoch + 1) % cfg.save_every == 0 && epoch + 1 < cfg.max_epoch) save(epoch + 1);
  }
  bar.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (result.epochs_run > 0 || !std::filesystem::exists(ckpt_path)) save(cfg.max_epoch);
  return result;
}

}  // namespace graphmae2::models::train
