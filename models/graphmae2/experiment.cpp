#include "models/graphmae2/experiment.h"

#include "datasets/dataset_h5.h"
#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "models/engine/diagnostics.h"
#include "models/graphmae2/collapse_retry.h"
#include "models/graphmae2/run_inputs.h"
#include "models/graphmae2/trainer.h"
#include "util/atomic_file.h"

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>
#include <iomanip>
#include <sstream>

namespace graphmae2::models::graphmae2 {

namespace {

/// The ego-graphs whose embeddings the diagnostics of an lc run read (a fixed sample when there are more).
constexpr int64_t kDiagnosticEgoGraphs = 8192;

RunInputsOptions inputs_options(const ExperimentOptions& options) {
  RunInputsOptions o;
  o.device = options.device;
  o.features = options.features;
  o.out_dir = options.out_dir;
  o.progress = options.progress;
  o.log = options.log;
  return o;
}

// The probe's weights, gradients and Adam moments, [num_hidden, num_classes] each: refused before pre-training,
// not after it (labels of 1e9 make 1e9 classes).
void check_probe_fits(const GraphMAE2Config& cfg, const datasets::NodeDataset& data) {
  const double probe_bytes = 16.0 * static_cast<double>(cfg.num_hidden) * static_cast<double>(data.num_classes);
  const int64_t available = datasets::memory_available_bytes();
  if (available <= 0 || probe_bytes <= static_cast<double>(available)) return;
  throw std::invalid_argument("'" + data.name + "' has " + std::to_string(data.num_classes) +
                              " classes: its probe (num_hidden " + std::to_string(cfg.num_hidden) + " x " +
                              std::to_string(data.num_classes) + ", with gradients and Adam moments) needs " +
                              std::to_string(static_cast<int64_t>(probe_bytes / (1 << 20))) + " MiB, more than the " +
                              std::to_string(available / (1 << 20)) + " MiB available; check the labels");
}

std::filesystem::path seed_dir(const std::filesystem::path& out_dir, int64_t seed) {
  return out_dir / ("seed" + std::to_string(seed));
}

// Every seed's checkpoint is checked before anything is written: a refused resume leaves OUT as it was.
void check_resumable(const GraphMAE2Config& cfg, const GraphMAE2Config& remedied, const ExperimentOptions& options) {
  for (const auto seed : options.seeds) {
    const auto checkpoint = seed_dir(options.out_dir, seed) / "checkpoint.pt";
    if (!std::filesystem::exists(checkpoint)) continue;
    // A seed retried after a collapse trains with the remedy.
    const bool retried = std::filesystem::exists(collapsed_dir(options.out_dir, seed));
    const auto why = resume_mismatch(retried ? remedied : cfg, engine::read_checkpoint_state(checkpoint, "graphmae2"),
                                     engine::run_diverged(checkpoint.parent_path()));
    if (!why.empty()) throw std::invalid_argument("--resume: " + checkpoint.string() + ": " + why);
  }
}

/// @brief Trains and evaluates the seeds of one experiment: its inputs, the remedy of on_collapse retry (with
/// its own inputs when it normalises the features another way, built at the first retry) and the diagnostics.
class SeedRunner {
 public:
  SeedRunner(const GraphMAE2Config& cfg, const datasets::NodeDataset& data, const ExperimentOptions& options)
      : cfg_(cfg),
        data_(data),
        options_(options),
        remedied_(cfg.with_collapse_remedy(features_fixed(data, options.features.defined()))),
        run_(cfg, data, inputs_options(options)) {
    if (run_.egos && run_.egos->size() > kDiagnosticEgoGraphs) {
      const auto sample = torch::randperm(run_.egos->size(), at::make_generator<at::CPUGeneratorImpl>(0), torch::kLong);
      diag_egos_ = run_.egos->select(std::get<0>(sample.narrow(0, 0, kDiagnosticEgoGraphs).sort()));
    }
  }

  SeedOutcome run_seed(int64_t seed);
  bool collapsed() const { return collapsed_; }
  std::string seed_metrics(int64_t seed) const;

 private:
  const RunInputs& remedied_inputs();
  TrainerOptions trainer_options(int64_t seed, const GraphMAE2Config& seed_cfg, const RunInputs& run, bool resume,
                                 engine::Diagnostics& diag, std::unique_ptr<BatchSource>& batches) const;
  TrainResult attempt(int64_t seed, const GraphMAE2Config& seed_cfg, const RunInputs& run, bool may_retry, bool resume,
                      SeedOutcome& outcome);
  TrainResult train_with_retry(int64_t seed, SeedOutcome& outcome);
  void evaluate(int64_t seed, const TrainResult& trained, SeedOutcome& outcome);

  const GraphMAE2Config& cfg_;
  const datasets::NodeDataset& data_;
  const ExperimentOptions& options_;
  const GraphMAE2Config remedied_;
  const RunInputs run_;
  std::optional<RunInputs> remedied_run_;
  std::optional<graph::sampling::EgoGraphs> diag_egos_;
  bool collapsed_ = false;
};

const RunInputs& SeedRunner::remedied_inputs() {
  if (remedied_.feature_norm == cfg_.feature_norm) return run_;
  if (!remedied_run_) remedied_run_.emplace(remedied_, data_, inputs_options(options_));
  return *remedied_run_;
}

TrainerOptions SeedRunner::trainer_options(int64_t seed, const GraphMAE2Config& seed_cfg, const RunInputs& run,
                                           bool resume, engine::Diagnostics& diag,
                                           std::unique_ptr<BatchSource>& batches) const {
  TrainerOptions topt;
  topt.seed_dir = seed_dir(options_.out_dir, seed);
  topt.resume = resume;
  topt.progress = options_.progress;
  topt.label = data_.name + " seed " + std::to_string(seed);
  topt.device = options_.device;
  topt.max_steps = seed_cfg.max_steps;
  topt.log = options_.log;
  topt.group = options_.group;
  topt.on_embeddings = [&diag](int64_t epoch, const torch::Tensor& emb) { diag.observe_embeddings(epoch, emb.cpu()); };
  if (!run.minibatch) return topt;
  auto batch_options = run.batch_options;
  if (options_.group) {
    batch_options.rank = options_.group->rank();
    batch_options.world_size = options_.group->world_size();
  }
  batches = std::make_unique<BatchSource>(run.cpu_input.graph, run.features, run.egos, batch_options,
                                          static_cast<uint64_t>(seed));
  topt.batches = batches.get();
  topt.embeddings = [this, &run, &seed_cfg](GraphMAE2& model) {
    // lc: the diagnostics read a fixed sample of ego-graphs, not all (millions on the largest graphs).
    if (!diag_egos_) return run.embed_nodes(model, {}, false);
    return embed_ego_graphs(model, run.cpu_input.graph, run.features, *diag_egos_, seed_cfg.batch_size,
                            run.batch_options.sparse_input, options_.device);
  };
  return topt;
}

// One attempt of `seed` with `seed_cfg`; with may_retry, a collapse flag stops it (throws CollapseRetry).
TrainResult SeedRunner::attempt(int64_t seed, const GraphMAE2Config& seed_cfg, const RunInputs& run, bool may_retry,
                                bool resume, SeedOutcome& outcome) {
  // A teacher that never moves (momentum 1) makes a small latent loss a match, not a collapse.
  engine::Diagnostics diag(engine::DiagnosticsOptions()
                               .latent_target_fixed(seed_cfg.momentum >= 1.0)
                               .representation_advice(kRepresentationCollapseAdvice));
  outcome.warnings.clear();
  std::unique_ptr<BatchSource> batches;
  auto topt = trainer_options(seed, seed_cfg, run, resume, diag, batches);
  const auto dir = collapsed_dir(options_.out_dir, seed);
  topt.on_epoch = [&](int64_t epoch, std::map<std::string, double>& fig) {
    std::map<std::string, double> terms{{"loss", fig.at("loss")}};
    if (seed_cfg.use_reconstruction) terms["loss_rec"] = fig.at("loss_rec");
    if (seed_cfg.use_latent) terms["loss_latent"] = fig.at("loss_latent");
    diag.observe_losses(epoch, terms);
    if (seed_cfg.use_latent) diag.observe_teacher(epoch, fig.at("teacher_distance"));
    diag.observe_grads(epoch, epoch, {{"total", fig.at("grad_norm")}});
    for (const auto& [k, v] : diag.metrics()) fig.emplace(k, v);
    for (const auto& flag : diag.take_new_flags()) {
      const auto line = engine::format(flag);
      engine::log_warning(options_.log, line);
      outcome.warnings.push_back(line);
    }
    if (may_retry && diag.has_collapse()) throw CollapseRetry{CollapsedAttempt{epoch, fig, outcome.warnings, dir}};
  };
  auto trained = train_graphmae2(seed_cfg, run.input, seed, topt);
  collapsed_ = collapsed_ || diag.has_collapse();
  return trained;
}

TrainResult SeedRunner::train_with_retry(int64_t seed, SeedOutcome& outcome) {
  if (outcome.collapsed_attempt) return attempt(seed, remedied_, remedied_inputs(), false, options_.resume, outcome);
  try {
    return attempt(seed, cfg_, run_, cfg_.on_collapse == OnCollapse::retry, options_.resume, outcome);
  } catch (const CollapseRetry& retry) {
    // The stopped attempt is kept for the user (its metrics say how it collapsed); the retry starts afresh.
    outcome.collapsed_attempt = retry.attempt;
    outcome.collapsed_attempt->remedy = remedy_text(cfg_, remedied_);
    keep_collapsed_attempt(seed_dir(options_.out_dir, seed), *outcome.collapsed_attempt);
    engine::log_info(options_.log, data_.name + " seed " + std::to_string(seed) + ": collapse at epoch " +
                                       std::to_string(retry.attempt.epoch) + "; training again from the start with " +
                                       outcome.collapsed_attempt->remedy + " (the stopped attempt is in " +
                                       retry.attempt.dir.string() + ")");
    return attempt(seed, remedied_, remedied_inputs(), false, false, outcome);
  }
}

void SeedRunner::evaluate(int64_t seed, const TrainResult& trained, SeedOutcome& outcome) {
  const RunInputs& run = outcome.collapsed_attempt ? remedied_inputs() : run_;
  auto model = trained.model;
  // Rows go to the file as inference produces them; the probe needs them too, so they are also kept.
  torch::Tensor emb;
  datasets::write_h5_streamed(
      options_.out_dir / ("embeddings_seed" + std::to_string(seed) + ".h5"),
      {{"node_ids", run.embedded_nodes},
       {"labels", run.labels},
       {"train_mask", run.train_mask},
       {"val_mask", run.val_mask},
       {"test_mask", run.test_mask}},
      {{"dataset", data_.name},
       {"seed", std::to_string(seed)},
       {"config", (outcome.collapsed_attempt ? remedied_ : cfg_).to_yaml()}},
      {"embeddings", torch::kFloat32, {run.embedded_nodes.size(0), cfg_.num_hidden}}, [&](datasets::H5RowSink& sink) {
        emb = run.embed_nodes(
            model, [&](int64_t first, const torch::Tensor& rows) { sink.write_rows(first, rows); }, options_.progress);
      });
  outcome.probe = run.probe(model, emb, cfg_.probe_options(static_cast<uint64_t>(seed)), options_.progress);
  const auto warnings = outcome.warnings.empty() ? "" : ", " + std::to_string(outcome.warnings.size()) + " warning(s)";
  engine::log_info(options_.log,
                   data_.name + " " + probe_line(seed, outcome.probe) + ", " + outcome.train_span + warnings);
}

SeedOutcome SeedRunner::run_seed(int64_t seed) {
  SeedOutcome outcome;
  outcome.seed = seed;
  // A resumed seed whose first attempt was stopped goes on with the remedy it was retried with.
  const auto stopped = collapsed_dir(options_.out_dir, seed);
  if (options_.resume && std::filesystem::exists(stopped)) outcome.collapsed_attempt = read_collapsed_attempt(stopped);
  const auto trained = train_with_retry(seed, outcome);
  outcome.train_seconds = trained.seconds;
  outcome.epochs_run = trained.epochs_run;
  outcome.train_span = trained.span();
  if (options_.evaluate && (!options_.group || options_.group->is_main())) {
    evaluate(seed, trained, outcome);
  } else {
    engine::log_info(options_.log, data_.name + " seed " + std::to_string(seed) + ": pre-trained, " +
                                       outcome.train_span + "; checkpoint " +
                                       (seed_dir(options_.out_dir, seed) / "checkpoint.pt").string());
  }
  return outcome;
}

std::string SeedRunner::seed_metrics(int64_t seed) const {
  std::ifstream in(seed_dir(options_.out_dir, seed) / "metrics.jsonl");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

std::string RunDataset::describe() const {
  std::ostringstream os;
  os << data.name << " (" << data.num_nodes() << " nodes, " << data.graph.num_edges() << " edges, "
     << (features.defined() ? features.dim() : data.feature_dim()) << " features, " << data.num_classes << " classes)";
  if (features.defined()) {
    os << ", features on disk (" << features.num_rows() << " x " << features.dim() << " "
       << (features.stored_dtype() == torch::kHalf ? "float16" : "float32") << ", "
       << features.stored_bytes() / (1 << 20) << " MiB)";
  }
  return os.str();
}

RunDataset load_run_dataset(const GraphMAE2Config& cfg, const std::filesystem::path& data_root,
                            const std::string& split) {
  RunDataset out;
  if (cfg.feature_storage != FeatureStorage::disk) {
    datasets::check_features_fit_memory(cfg.dataset, data_root);
    datasets::LoadOptions load;
    load.split = split;
    out.data = datasets::load_node_dataset(cfg.dataset, data_root, load);
    return out;
  }
  // The graph, labels and splits in memory; the feature matrix stays in the cache and batches read its rows.
  const std::filesystem::path file(cfg.dataset);
  if (file.extension() != ".h5" || !std::filesystem::is_regular_file(file)) {
    throw std::invalid_argument("feature_storage disk reads the features from a dataset cache, but --dataset is '" +
                                cfg.dataset +
                                "'; write one with graphmae2-data convert <dataset> FILE.h5 "
                                "[--feature-dtype float16] and give --dataset FILE.h5");
  }
  out.data = datasets::load_dataset_h5(file, /*with_features=*/false);
  out.features = datasets::FeatureStore::open_h5(file, "features", feature_normalization(cfg));
  return out;
}

std::optional<GraphMAE2Config> embeddings_config(const std::filesystem::path& file) {
  const auto attrs = datasets::read_h5_attrs(file);
  const auto it = attrs.find("config");
  if (it == attrs.end()) return std::nullopt;
  GraphMAE2Config cfg;
  cfg.apply_text(it->second, file.string() + " (attribute config)");
  return cfg;
}

namespace {

// A run on several ranks: a mini-batch sampler, a batch every rank has a share of, the same config everywhere.
void check_distributed(const GraphMAE2Config& cfg, const ExperimentOptions& options) {
  const int world = options.group->world_size();
  if (cfg.sampler == Sampler::full) {
    throw std::invalid_argument("sampler full trains on the whole graph in one process; with " + std::to_string(world) +
                                " processes choose a mini-batch sampler (lc, neighbor or saint) or run one process");
  }
  if (cfg.batch_size < world) {
    throw std::invalid_argument("batch_size " + std::to_string(cfg.batch_size) + " is smaller than the " +
                                std::to_string(world) + " processes: every rank needs a share of each batch");
  }
  std::string seeds;
  for (const auto s : options.seeds) seeds += std::to_string(s) + ",";
  options.group->check_same_on_every_rank(
      "the resolved config (with --seeds, --out, --resume)",
      cfg.to_yaml() + seeds + options.out_dir.string() + (options.resume ? " resume" : ""));
}

}  // namespace

ExperimentResult run_experiment(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                const ExperimentOptions& options) {
  cfg.validate();
  data.validate();
  check_normalized_once(data, cfg);
  if (options.evaluate) check_probe_fits(cfg, data);
  if (options.resume) {
    check_resumable(cfg, cfg.with_collapse_remedy(features_fixed(data, options.features.defined())), options);
  }
  const auto shape = engine::run_shape(options.group.get());
  const bool main_rank = !options.group || options.group->is_main();
  if (shape.world_size > 1) check_distributed(cfg, options);
  std::filesystem::create_directories(options.out_dir);
  if (main_rank) {
    util::atomic_write_text(
        options.out_dir / "config.yaml",
        cfg.to_yaml() + "# world_size: " + std::to_string(shape.world_size) + " (backend " + shape.backend + ")\n");
  }
  // Rank 0 prepares the inputs first: the ego-graphs it computes are cached in out_dir, where the others read them.
  if (shape.world_size > 1 && !main_rank) options.group->barrier("rank 0 preparing the inputs");
  SeedRunner runner(cfg, data, options);
  if (shape.world_size > 1 && main_rank) options.group->barrier("rank 0 preparing the inputs");
  ExperimentResult result;
  result.world_size = shape.world_size;
  result.backend = shape.backend;
  result.dataset = data.name;
  result.protocol = !options.evaluate ? "pre-training" : cfg.linear_prob ? "linear-probe" : "fine-tune";
  std::string all_metrics;
  std::vector<eval::ProbeResult> probes;
  for (const int64_t seed : options.seeds) {
    result.seeds.push_back(runner.run_seed(seed));
    all_metrics += runner.seed_metrics(seed);
    probes.push_back(result.seeds.back().probe);
  }
  result.summarise(probes);
  if (!main_rank) return result;  // rank 0 writes the run's files
  util::atomic_write_text(options.out_dir / "metrics.jsonl", all_metrics);
  util::atomic_write_text(options.out_dir / "result.json", result.to_json());
  if (cfg.on_collapse == OnCollapse::stop && runner.collapsed()) {
    throw CollapseDetected("collapse detected (see the warnings above and " +
                           (options.out_dir / "metrics.jsonl").string() +
                           "); on_collapse stop (--fail-on-collapse) makes this an error");
  }
  return result;
}

std::vector<eval::ProbeResult> probe_checkpoint(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                                const std::filesystem::path& checkpoint,
                                                const std::vector<int64_t>& probe_seeds,
                                                const ExperimentOptions& options,
                                                const std::function<void(int64_t seed, int64_t epoch)>& on_epoch) {
  cfg.validate();
  data.validate();
  const RunInputs run(cfg, data, inputs_options(options));
  auto model = build_model(cfg, run.minibatch ? run.features.dim() : run.input.features.size(1));
  engine::load_checkpoint(checkpoint, "graphmae2", *model, nullptr);
  model->to(options.device);
  const auto emb = run.embed_nodes(model, {}, options.progress);
  std::vector<eval::ProbeResult> out;
  for (const int64_t seed : probe_seeds) {
    auto popt = cfg.probe_options(static_cast<uint64_t>(seed));
    if (on_epoch) popt.on_epoch = [&, seed](int64_t epoch) { on_epoch(seed, epoch); };
    out.push_back(run.probe(model, emb, popt, options.progress));
  }
  return out;
}

}  // namespace graphmae2::models::graphmae2
