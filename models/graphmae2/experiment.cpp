#include "models/graphmae2/experiment.h"

#include "datasets/ego_graphs_h5.h"
#include "datasets/hdf5_io.h"
#include "datasets/registry.h"
#include "graph/transforms.h"
#include "models/eval/finetune.h"
#include "models/engine/diagnostics.h"
#include "models/engine/metrics_log.h"
#include "models/engine/progress.h"
#include "models/graphmae2/trainer.h"
#include "util/atomic_file.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace graphmae2::models::graphmae2 {

namespace {

// "input_skip=true feature_norm=standard self_reconstruction=1": the keys whose values `remedied` changed from
// `cfg`'s.
std::string remedy_text(const GraphMAE2Config& cfg, const GraphMAE2Config& remedied) {
  std::string out;
  const auto changed = cfg.differing_keys(remedied, {});
  for (const auto& [key, value] : GraphMAE2Config::collapse_remedy()) {
    if (std::find(changed.begin(), changed.end(), key) != changed.end()) out += (out.empty() ? "" : " ") + key + "=" + value;
  }
  return out.empty() ? "the same keys (the remedy's values were already set)" : out;
}

// Stops a seed's first attempt at its collapse flag (on_collapse retry); carries what the attempt measured.
struct CollapseRetry {
  CollapsedAttempt attempt;
};

constexpr const char* kCollapseRecord = "collapse.json";

// What the representation-collapse flags advise: the measurements of docs/diagnostics.md (a synthetic graph that
// collapses like a user's, GraphMAE2 with configs/cora.yaml at width 256, seed 0, 2-core CPU).
constexpr const char* kRepresentationCollapseAdvice =
    "Measured on a dense heterophilous graph that collapses like this (docs/diagnostics.md; probe at chance against "
    "83.5% for the raw features): raising mask_rate, the remask rate or the EMA momentum, or lowering lr, left the "
    "probe at chance (16.4-16.7%, 100 epochs). What gets it out is each node keeping and reconstructing its own "
    "centred features: input_skip true + feature_norm standard + self_reconstruction 1 reaches 90.6% at 300 epochs "
    "(64.1% at 100); without self_reconstruction 74.6%; with use_reconstruction false as well 88.1% (72.7% at 100, "
    "88.5% at 100 with lr 0.005). --on-collapse retry trains the seed again with the first. Also check that the "
    "encoder output is not constant (dead activations, zero weights, a detached input).";

// The features arrive normalised (a cache written normalised) or are read from disk as the tool opened them: a
// retry cannot normalise them another way.
bool inputs_fixed(const datasets::NodeDataset& data, const ExperimentOptions& options) {
  return !data.feature_normalization.empty() || options.features.defined();
}

engine::Json attempt_json(const CollapsedAttempt& a) {
  return engine::Json{{"epoch", a.epoch},       {"figures", a.figures}, {"warnings", a.warnings},
                      {"dir", a.dir.string()}, {"remedy", a.remedy}};
}

// The record a retried seed's stopped attempt left in its folder (read back by --resume).
CollapsedAttempt read_attempt(const std::filesystem::path& dir) {
  const auto file = dir / kCollapseRecord;
  std::ifstream in(file);
  if (!in) throw std::runtime_error("--resume: " + dir.string() + " holds a stopped attempt but no readable " + kCollapseRecord);
  CollapsedAttempt a;
  try {
    const auto j = engine::Json::parse(in);
    a.epoch = j.at("epoch").get<int64_t>();
    a.figures = j.at("figures").get<std::map<std::string, double>>();
    a.warnings = j.at("warnings").get<std::vector<std::string>>();
    a.remedy = j.at("remedy").get<std::string>();
  } catch (const std::exception& e) {
    throw std::runtime_error("--resume: " + file.string() + " is not a collapse record: " + e.what());
  }
  a.dir = dir;
  return a;
}

}  // namespace

std::pair<double, double> mean_std(const std::vector<double>& values) {
  if (values.empty()) return {0.0, 0.0};
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  return {mean, std::sqrt(var / static_cast<double>(values.size()))};
}

std::string ExperimentResult::summary_line() const {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << dataset << "  " << protocol << " " << mean << " ± " << std << " ("
     << seeds.size() << (seeds.size() == 1 ? " seed)" : " seeds)");
  for (const auto& s : seeds) {
    if (!s.collapsed_attempt) continue;
    const auto& a = *s.collapsed_attempt;
    os << "; seed " << s.seed << " retried with " << a.remedy << " after a collapse at epoch " << a.epoch;
    std::string figures;
    for (const char* key : {"effective_rank", "mean_cosine"}) {
      const auto it = a.figures.find(key);
      if (it == a.figures.end()) continue;
      std::ostringstream v;
      v << std::setprecision(4) << std::defaultfloat << it->second;
      figures += (figures.empty() ? "" : ", ") + std::string(key) + " " + v.str();
    }
    if (!figures.empty()) os << " (" << figures << ")";
  }
  return os.str();
}

namespace {

std::string result_json(const ExperimentResult& r) {
  engine::Json j{{"dataset", r.dataset}, {"protocol", r.protocol}, {"mean", r.mean},           {"std", r.std},
                 {"final_mean", r.final_mean}, {"final_std", r.final_std}};
  j["seeds"] = engine::Json::array();
  j["accuracies"] = engine::Json::array();
  j["final_accuracies"] = engine::Json::array();
  j["train_seconds"] = engine::Json::array();
  j["warnings"] = engine::Json::array();
  for (const auto& s : r.seeds) {
    j["seeds"].push_back(s.seed);
    j["accuracies"].push_back(100.0 * s.probe.test_acc);
    j["final_accuracies"].push_back(100.0 * s.probe.final_test_acc);
    j["train_seconds"].push_back(s.train_seconds);
    for (const auto& w : s.warnings) j["warnings"].push_back(w);
  }
  // on_collapse retry: per retried seed, the stopped attempt beside the retry's accuracy in "accuracies".
  j["retries"] = engine::Json::array();
  for (const auto& s : r.seeds) {
    if (!s.collapsed_attempt) continue;
    auto a = attempt_json(*s.collapsed_attempt);
    a["seed"] = s.seed;
    a["retry_accuracy"] = 100.0 * s.probe.test_acc;
    j["retries"].push_back(a);
  }
  return j.dump(2) + "\n";
}

/// The ego-graphs whose embeddings the diagnostics of an lc run read (a fixed sample when there are more).
constexpr int64_t kDiagnosticEgoGraphs = 8192;

/// The pre-training seeds of the lc sampler, as the reference: train, valid, then test nodes.
torch::Tensor split_seeds(const datasets::NodeDataset& data) {
  return torch::cat({data.train_mask.nonzero().flatten(), data.val_mask.nonzero().flatten(),
                     data.test_mask.nonzero().flatten()});
}

/// The ego-graphs of the lc sampler: read from cfg.lc_file (or OUT/lc-ego<size>.h5) when it exists, checked
/// against this graph and ego size; computed (with a progress bar) and cached there when it does not.
graph::EgoGraphs lc_ego_graphs(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                               const graph::CsrGraph& prepared, const std::filesystem::path& out_dir, bool progress) {
  const std::filesystem::path file =
      cfg.lc_file.empty() ? out_dir / ("lc-ego" + std::to_string(cfg.ego_size) + ".h5") : std::filesystem::path(cfg.lc_file);
  // The reference clusters on the bidirected graph with self-loops: the prepared graph itself when symmetrize
  // is on (no second copy of a large graph).
  std::optional<graph::CsrGraph> own;
  if (!cfg.symmetrize) own = graph::bidirected_with_self_loops(data.graph);
  const graph::CsrGraph& lc_graph = own ? *own : prepared;
  if (std::filesystem::exists(file)) {
    auto loaded = datasets::load_ego_graphs_h5(file, lc_graph);
    if (loaded.options.ego_size != cfg.ego_size) {
      throw std::runtime_error(file.string() + ": ego-graphs of size " + std::to_string(loaded.options.ego_size) +
                               ", but ego_size is " + std::to_string(cfg.ego_size) +
                               "; recompute them (graphmae2-data lc --ego-size " + std::to_string(cfg.ego_size) +
                               ") or give another lc_file");
    }
    std::cout << "ego-graphs: " << file.string() << " (" << loaded.egos.size() << " seeds)" << std::endl;
    return loaded.egos;
  }
  const auto seeds = split_seeds(data);
  if (seeds.size(0) == 0) throw std::runtime_error("lc sampler: the dataset has no train, valid or test nodes");
  graph::LocalClusteringOptions lc;
  lc.ego_size = cfg.ego_size;
  engine::ProgressBar bar("ego-graphs " + data.name, seeds.size(0), progress, 0);
  const auto t0 = std::chrono::steady_clock::now();
  auto egos = graph::local_clustering(lc_graph, seeds, lc, [&](int64_t done) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(done, std::to_string(static_cast<int64_t>(done / std::max(s, 1e-9))) + " seeds/s");
  });
  bar.finish();
  std::filesystem::create_directories(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
  datasets::save_ego_graphs_h5(egos, lc_graph, lc, data.name, file);
  std::cout << "ego-graphs: computed " << egos.size() << " and cached them in " << file.string() << std::endl;
  return egos;
}

/// What a run of `cfg` trains and probes on, built the same way for training (run_experiment) and for a
/// checkpoint's evaluation (probe_checkpoint): the prepared graph and features, the ego-graphs of an lc run, the
/// nodes that get an embedding and their labels and masks.
struct RunInputs {
  const GraphMAE2Config& cfg;
  const datasets::NodeDataset& data;
  torch::Device device;
  bool minibatch = false;
  PreparedGraph cpu_input, input;
  datasets::FeatureStore features;
  std::optional<graph::EgoGraphs> egos;
  BatchSourceOptions batch_options;
  torch::Tensor embedded_nodes, labels, train_mask, val_mask, test_mask;

  RunInputs(const GraphMAE2Config& cfg_in, const datasets::NodeDataset& data_in, const ExperimentOptions& options)
      : cfg(cfg_in), data(data_in), device(options.device) {
    minibatch = cfg.sampler != Sampler::full;
    const bool on_disk = options.features.defined();
    TORCH_CHECK(!on_disk || minibatch, "features on disk need a mini-batch sampler (lc, neighbor or saint)");
    if (on_disk) {
      TORCH_CHECK(options.features.num_rows() == data.num_nodes(), "the features on disk have ",
                  options.features.num_rows(), " rows but the graph has ", data.num_nodes(), " nodes");
      cpu_input.graph = prepare_graph(data, cfg);
    } else {
      cpu_input = prepare_inputs(data, cfg);
    }
    const bool batch_sparse = cpu_input.sparse_features.has_value();
    if (minibatch) cpu_input.sparse_features.reset();  // batches build their own; the whole-graph index is not needed
    if (cfg.feature_dtype == FeatureDtype::float16 && !on_disk) cpu_input.features = datasets::to_float16_checked(cpu_input.features);
    // Mini-batch: the features stay on the CPU (or on disk) and each batch's rows go to the device.
    features = on_disk ? options.features : minibatch ? datasets::FeatureStore(cpu_input.features) : datasets::FeatureStore();
    input = device.is_cpu() || minibatch ? cpu_input : cpu_input.to(device);
    if (cfg.sampler == Sampler::lc) {
      egos = lc_ego_graphs(cfg, data, cpu_input.graph, options.out_dir, options.progress);
      TORCH_CHECK(cfg.batch_size <= egos->size(), "batch_size ", cfg.batch_size, " is larger than the ", egos->size(),
                  " ego-graphs (seeds) to train on");
      // The probe reads every train/valid/test node's embedding: each needs its ego-graph.
      const auto missing = (data.train_mask | data.val_mask | data.test_mask).index_put({egos->seeds}, torch::tensor(false));
      const int64_t num_missing = missing.sum().item<int64_t>();
      TORCH_CHECK(num_missing == 0, "the ego-graph file has no ego-graph for ", num_missing,
                  " train/valid/test nodes (e.g. node ", num_missing > 0 ? missing.nonzero()[0][0].item<int64_t>() : -1,
                  "): compute it with graphmae2-data lc --seeds split (or all)");
    }
    batch_options.sampler = cfg.sampler;
    batch_options.batch_size = cfg.batch_size;
    batch_options.drop_edge_rate = cfg.drop_edge_rate;
    batch_options.saint_walk_length = cfg.saint_walk_length;
    batch_options.fanouts = cfg.fanouts;
    batch_options.sparse_input = batch_sparse;
    batch_options.pin_memory = device.is_cuda();
    // The nodes that get an embedding: with lc, the ego-graph seeds (each embedded in its own ego-graph, as the
    // reference's probe); otherwise every node (layer-wise full-neighbour inference for mini-batch models: the
    // whole graph is never on the device at once).
    embedded_nodes = egos ? egos->seeds : torch::arange(data.num_nodes(), torch::kLong);
    labels = data.labels.index_select(0, embedded_nodes);
    train_mask = data.train_mask.index_select(0, embedded_nodes);
    val_mask = data.val_mask.index_select(0, embedded_nodes);
    test_mask = data.test_mask.index_select(0, embedded_nodes);
  }

  /// The embeddings of embedded_nodes, on the CPU, also passed to `on_rows` as they are produced.
  torch::Tensor embed_nodes(GraphMAE2& model, const EmbeddingRowsCallback& on_rows, bool progress) const {
    if (!minibatch) {
      auto emb = embed(model, input).cpu();
      if (on_rows) on_rows(0, emb);
      return emb;
    }
    if (egos) {
      return embed_ego_graphs(model, cpu_input.graph, features, *egos, cfg.batch_size, batch_options.sparse_input,
                              device, on_rows, progress);
    }
    auto emb = embed_layerwise(model, cpu_input.graph, features, 4096, device, progress);
    if (on_rows) on_rows(0, emb);
    return emb;
  }

  /// The run's probe of `model` with `popt`: a linear probe of `emb` (embed_nodes), or with linear_prob off a
  /// fine-tune (on ego-graphs for lc). The model is not changed (fine-tuning trains a copy).
  eval::ProbeResult probe(GraphMAE2& model, const torch::Tensor& emb, const eval::ProbeOptions& popt, bool progress) const {
    if (cfg.linear_prob) return eval::linear_probe(emb, labels, data.num_classes, train_mask, val_mask, test_mask, popt);
    if (egos) {
      auto fopt = popt;
      fopt.batch_size = cfg.batch_size_f;
      return finetune_ego_graphs(model->encoder, cpu_input.graph, features, *egos, data.labels, data.num_classes,
                                 data.train_mask, data.val_mask, data.test_mask, fopt, device, progress);
    }
    model->to(torch::kCPU);  // the labels and masks live on the CPU
    return eval::finetune(model->encoder, cpu_input.graph, cpu_input.features, data.labels, data.num_classes,
                          data.train_mask, data.val_mask, data.test_mask, popt);
  }
};

}  // namespace

std::optional<GraphMAE2Config> embeddings_config(const std::filesystem::path& file) {
  const auto attrs = datasets::read_h5_attrs(file);
  const auto it = attrs.find("config");
  if (it == attrs.end()) return std::nullopt;
  GraphMAE2Config cfg;
  cfg.apply_text(it->second, file.string() + " (attribute config)");
  return cfg;
}

ExperimentResult run_experiment(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                const ExperimentOptions& options) {
  cfg.validate();
  data.validate();
  check_normalized_once(data, cfg);
  {
    // The probe's weights, gradients and Adam moments, [num_hidden, num_classes] each: refused now, not after the
    // whole pre-training (labels of 1e9 make 1e9 classes).
    const double probe_bytes = 16.0 * static_cast<double>(cfg.num_hidden) * static_cast<double>(data.num_classes);
    const int64_t available = datasets::memory_available_bytes();
    if (options.evaluate && available > 0 && probe_bytes > static_cast<double>(available)) {
      throw std::invalid_argument("'" + data.name + "' has " + std::to_string(data.num_classes) +
                                  " classes: its probe (num_hidden " + std::to_string(cfg.num_hidden) + " x " +
                                  std::to_string(data.num_classes) + ", with gradients and Adam moments) needs " +
                                  std::to_string(static_cast<int64_t>(probe_bytes / (1 << 20))) + " MiB, more than the " +
                                  std::to_string(available / (1 << 20)) + " MiB available; check the labels");
    }
  }
  if (options.resume) {
    // Every seed's checkpoint is checked before anything is written: a refused resume leaves OUT as it was.
    for (const auto seed : options.seeds) {
      const auto checkpoint = options.out_dir / ("seed" + std::to_string(seed)) / "checkpoint.pt";
      if (!std::filesystem::exists(checkpoint)) continue;
      // A seed retried after a collapse trains with the remedy.
      const bool retried = std::filesystem::exists(options.out_dir / ("seed" + std::to_string(seed) + "-collapsed"));
      const auto why = resume_mismatch(retried ? cfg.with_collapse_remedy(inputs_fixed(data, options)) : cfg,
                                       engine::read_checkpoint_state(checkpoint, "graphmae2"),
                                       engine::run_diverged(checkpoint.parent_path()));
      if (!why.empty()) throw std::invalid_argument("--resume: " + checkpoint.string() + ": " + why);
    }
  }
  std::filesystem::create_directories(options.out_dir);
  util::atomic_write_text(options.out_dir / "config.yaml", cfg.to_yaml());
  const RunInputs run(cfg, data, options);
  // on_collapse retry: the remedy, and its own inputs when it normalises the features another way (built once,
  // at the first retry).
  const GraphMAE2Config remedied = cfg.with_collapse_remedy(inputs_fixed(data, options));
  std::optional<RunInputs> remedied_inputs;
  auto remedied_run = [&]() -> const RunInputs& {
    if (remedied.feature_norm == cfg.feature_norm) return run;
    if (!remedied_inputs) remedied_inputs.emplace(remedied, data, options);
    return *remedied_inputs;
  };
  std::optional<graph::EgoGraphs> diag_egos;
  if (run.egos && run.egos->size() > kDiagnosticEgoGraphs) {
    const auto sample = torch::randperm(run.egos->size(), at::make_generator<at::CPUGeneratorImpl>(0), torch::kLong);
    diag_egos = run.egos->select(std::get<0>(sample.narrow(0, 0, kDiagnosticEgoGraphs).sort()));
  }

  ExperimentResult result;
  result.dataset = data.name;
  result.protocol = !options.evaluate ? "pre-training" : cfg.linear_prob ? "linear-probe" : "fine-tune";
  std::string all_metrics;
  bool collapsed = false;
  for (int64_t seed : options.seeds) {
    const auto seed_dir = options.out_dir / ("seed" + std::to_string(seed));
    const auto collapsed_dir = options.out_dir / ("seed" + std::to_string(seed) + "-collapsed");
    SeedOutcome outcome;
    outcome.seed = seed;
    // A resumed seed whose first attempt was stopped goes on with the remedy it was retried with.
    if (options.resume && std::filesystem::exists(collapsed_dir)) outcome.collapsed_attempt = read_attempt(collapsed_dir);
    // One attempt of this seed with `seed_cfg`; with may_retry, a collapse flag stops it (CollapseRetry).
    auto attempt = [&](const GraphMAE2Config& seed_cfg, const RunInputs& run, bool may_retry, bool resume) {
      // A teacher that never moves (momentum 1) makes a small latent loss a match, not a collapse.
      engine::Diagnostics diag(engine::DiagnosticsOptions()
                                   .latent_target_fixed(seed_cfg.momentum >= 1.0)
                                   .representation_advice(kRepresentationCollapseAdvice));
      outcome.warnings.clear();
      TrainerOptions topt;
      topt.seed_dir = seed_dir;
      topt.resume = resume;
      topt.progress = options.progress;
      topt.label = data.name + " seed " + std::to_string(seed);
      topt.device = options.device;
      topt.max_steps = seed_cfg.max_steps;
      topt.on_embeddings = [&](int64_t epoch, const torch::Tensor& emb) { diag.observe_embeddings(epoch, emb.cpu()); };
      std::unique_ptr<BatchSource> batches;
      if (run.minibatch) {
        batches = std::make_unique<BatchSource>(run.cpu_input.graph, run.features, run.egos, run.batch_options,
                                                static_cast<uint64_t>(seed));
        topt.batches = batches.get();
        topt.embeddings = [&](GraphMAE2& model) {
          // lc: the diagnostics read a fixed sample of ego-graphs, not all (2.45M on ogbn-products).
          if (!diag_egos) return run.embed_nodes(model, {}, false);
          return embed_ego_graphs(model, run.cpu_input.graph, run.features, *diag_egos, seed_cfg.batch_size,
                                  run.batch_options.sparse_input, options.device);
        };
      }
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
          std::cerr << "\n" << line << "\n";
          outcome.warnings.push_back(line);
        }
        if (may_retry && diag.has_collapse()) throw CollapseRetry{CollapsedAttempt{epoch, fig, outcome.warnings, collapsed_dir}};
      };
      auto trained = train_graphmae2(seed_cfg, run.input, seed, topt);
      collapsed = collapsed || diag.has_collapse();
      return trained;
    };
    TrainResult trained;
    if (outcome.collapsed_attempt) {
      trained = attempt(remedied, remedied_run(), false, options.resume);
    } else {
      try {
        trained = attempt(cfg, run, cfg.on_collapse == OnCollapse::retry, options.resume);
      } catch (const CollapseRetry& retry) {
        // The stopped attempt is kept for the user (its metrics say how it collapsed); the retry starts afresh.
        outcome.collapsed_attempt = retry.attempt;
        outcome.collapsed_attempt->remedy = remedy_text(cfg, remedied);
        // The record goes in before the rename, so a folder named -collapsed always holds one (--resume reads it).
        util::atomic_write_text(seed_dir / kCollapseRecord, attempt_json(*outcome.collapsed_attempt).dump(2) + "\n");
        std::filesystem::remove_all(collapsed_dir);
        std::filesystem::rename(seed_dir, collapsed_dir);
        std::cout << data.name << " seed " << seed << ": collapse at epoch " << retry.attempt.epoch
                  << "; training again from the start with " << outcome.collapsed_attempt->remedy << " (the stopped attempt is in "
                  << collapsed_dir.string() << ")" << std::endl;
        trained = attempt(remedied, remedied_run(), false, false);
      }
    }
    outcome.train_seconds = trained.seconds;
    outcome.epochs_run = trained.epochs_run;
    outcome.train_span = trained.span();
    const RunInputs& seed_run = outcome.collapsed_attempt ? remedied_run() : run;
    std::ifstream metrics_in(seed_dir / "metrics.jsonl");
    all_metrics.append(std::istreambuf_iterator<char>(metrics_in), std::istreambuf_iterator<char>());
    if (!options.evaluate) {
      std::cout << data.name << " seed " << seed << ": pre-trained, " << outcome.train_span << "; checkpoint "
                << (seed_dir / "checkpoint.pt").string() << std::endl;
      result.seeds.push_back(outcome);
      continue;
    }

    // Rows go to the file as inference produces them; the probe needs them too, so they are also kept.
    torch::Tensor emb;
    datasets::write_h5_streamed(
        options.out_dir / ("embeddings_seed" + std::to_string(seed) + ".h5"),
        {{"node_ids", seed_run.embedded_nodes},
         {"labels", seed_run.labels},
         {"train_mask", seed_run.train_mask},
         {"val_mask", seed_run.val_mask},
         {"test_mask", seed_run.test_mask}},
        {{"dataset", data.name},
         {"seed", std::to_string(seed)},
         {"config", (outcome.collapsed_attempt ? remedied : cfg).to_yaml()}},
        {"embeddings", torch::kFloat32, {seed_run.embedded_nodes.size(0), cfg.num_hidden}},
        [&](datasets::H5RowSink& sink) {
          emb = seed_run.embed_nodes(trained.model,
                                [&](int64_t first, const torch::Tensor& rows) { sink.write_rows(first, rows); },
                                options.progress);
        });
    outcome.probe = seed_run.probe(trained.model, emb, cfg.probe_options(static_cast<uint64_t>(seed)), options.progress);
    std::cout << std::fixed << std::setprecision(2) << data.name << " seed " << seed << ": test "
              << 100.0 * outcome.probe.test_acc << " (best val " << 100.0 * outcome.probe.best_val_acc << " at probe epoch "
              << outcome.probe.best_epoch << "), last-epoch test " << 100.0 * outcome.probe.final_test_acc << ", "
              << outcome.train_span
              << (outcome.warnings.empty() ? "" : ", " + std::to_string(outcome.warnings.size()) + " warning(s)")
              << std::endl;
    result.seeds.push_back(outcome);
  }
  std::vector<double> best, last;
  for (const auto& s : result.seeds) {
    best.push_back(100.0 * s.probe.test_acc);
    last.push_back(100.0 * s.probe.final_test_acc);
  }
  std::tie(result.mean, result.std) = mean_std(best);
  std::tie(result.final_mean, result.final_std) = mean_std(last);
  util::atomic_write_text(options.out_dir / "metrics.jsonl", all_metrics);
  util::atomic_write_text(options.out_dir / "result.json", result_json(result));
  if (cfg.on_collapse == OnCollapse::stop && collapsed) {
    throw CollapseDetected("collapse detected (see the warnings above and " + (options.out_dir / "metrics.jsonl").string() +
                           "); on_collapse stop (--fail-on-collapse) makes this an error");
  }
  return result;
}

std::vector<eval::ProbeResult> probe_checkpoint(const GraphMAE2Config& cfg, const datasets::NodeDataset& data,
                                                const std::filesystem::path& checkpoint,
                                                const std::vector<int64_t>& probe_seeds, const ExperimentOptions& options,
                                                const std::function<void(int64_t seed, int64_t epoch)>& on_epoch) {
  cfg.validate();
  data.validate();
  const RunInputs run(cfg, data, options);
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
