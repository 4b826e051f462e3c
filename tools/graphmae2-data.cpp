// graphmae2-data: inspect a dataset, or convert it to the .h5 cache.
//
//   graphmae2-data inspect <dataset|file.h5> [--data-root DIR]
//   graphmae2-data convert <dataset> <out.h5> [--data-root DIR] [--row-normalize] [--standardize]
//   graphmae2-data export-ogb <dataset> <dir> [--split NAME]
//   graphmae2-data lc <dataset> --out FILE.h5 [--ego-size 256] [--seeds all|split] [--threads N] [--no-progress]
//
// Exit codes (tools/common/tool_main.h): 0 ok, 1 bad input (the message names the file and place), 2 bad usage.

#include "datasets/dataset_h5.h"
#include "datasets/ego_graphs_h5.h"
#include "datasets/feature_store.h"
#include "datasets/ogb.h"
#include "datasets/registry.h"
#include "datasets/summary.h"
#include "graph/sampling/local_clustering.h"
#include "graph/transforms.h"
#include "models/engine/cli.h"
#include "models/engine/progress.h"
#include "tools/common/tool_main.h"
#include "util/stopwatch.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace ds = graphmae2::datasets;

constexpr const char* kUsage =
    "usage: graphmae2-data inspect <dataset|file.h5> [--data-root DIR] [--split NAME]\n"
    "       graphmae2-data convert <dataset> <out.h5> [--data-root DIR] [--row-normalize] [--standardize]\n"
    "                              [--feature-dtype float32|float16]\n"
    "       graphmae2-data export-ogb <dataset> <dir> [--split time]   (OGB's CSV layout, e.g. of a synthetic graph)\n"
    "       graphmae2-data lc <dataset> --out FILE.h5 [--ego-size 256] [--seeds all|split] [--threads N]\n"
    "                         [--no-progress] [--data-root DIR]\n"
    "  lc: the reference's local-clustering ego-graphs (PPR push, alpha 0.15, rho 1e-6, 1000 pushes) of every\n"
    "      node (all) or of the train, valid and test nodes in that order (split), written to FILE.h5\n"
    "datasets: cora, citeseer, pubmed, ogbn-<name>, synthetic:nodes=N,degree=D,..., a .h5 cache or an OGB folder\n";

using graphmae2::models::engine::UsageError;

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::optional<std::string> data_root;
  ds::LoadOptions load;
  std::string out;
  std::string split = "time";
  int64_t ego_size = 256;
  std::string seeds = "all";
  int threads = 0;  // 0: LibTorch's default
  torch::ScalarType feature_dtype = torch::kFloat32;
  bool progress = true;
};

int64_t parse_count(const std::string& flag, const std::string& text, int64_t min) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < min) {
    throw UsageError("--" + flag + " must be an integer >= " + std::to_string(min) + ", got '" + text + "'");
  }
  return v;
}

Args parse(int argc, char** argv) {
  graphmae2::models::engine::CommandLine cli("graphmae2-data");
  cli.value("data-root", "dataset root")
      .flag("row-normalize", "normalise feature rows to sum 1")
      .flag("standardize", "standardise feature columns")
      .value("out", "lc: the ego-graph file to write")
      .value("split",
             "export-ogb: the split folder to write (default time); other commands: the OGB split folder to read")
      .value("ego-size", "lc: nodes per ego-graph (default 256)")
      .value("seeds", "lc: all | split (default all)")
      .value("threads", "lc: CPU threads (default: all cores)")
      .value("feature-dtype", "convert: float32 (default) or float16 (half the disk; train with feature_storage disk)")
      .flag("no-progress", "no progress bar")
      .flag("help", "usage")
      .positional("words", "COMMAND and its arguments");
  const auto parsed = cli.parse(argc, argv);
  Args a;
  if (parsed.on("help")) {
    a.command = "help";
    return a;
  }
  if (!parsed.get("data-root").empty()) a.data_root = parsed.get("data-root");
  a.load.row_normalize = parsed.on("row-normalize");
  a.load.standardize = parsed.on("standardize");
  if (!parsed.positional.empty()) {
    a.command = parsed.positional.front();
    a.positional.assign(parsed.positional.begin() + 1, parsed.positional.end());
  }
  if (a.command == "inspect" && a.positional.size() != 1) throw UsageError("inspect takes one dataset");
  if (a.command == "convert" && a.positional.size() != 2)
    throw UsageError("convert takes a dataset and an output file");
  if (const auto dtype = parsed.get("feature-dtype"); !dtype.empty()) {
    if (a.command != "convert") throw UsageError("--feature-dtype belongs to the convert command");
    if (dtype != "float32" && dtype != "float16")
      throw UsageError("--feature-dtype must be float32 or float16, got '" + dtype + "'");
    a.feature_dtype = dtype == "float16" ? torch::kFloat16 : torch::kFloat32;
  }
  if (a.command == "export-ogb") {
    if (a.positional.size() != 2) throw UsageError("export-ogb takes a dataset and an output folder");
    a.split = parsed.get("split", "time");
    if (a.split.empty() || a.split.find('/') != std::string::npos) throw UsageError("--split must be a folder name");
  } else {
    // Reading commands: the OGB split folder to read (default: OGB's, or the only one).
    a.load.split = parsed.get("split");
    if (a.load.split.find('/') != std::string::npos) throw UsageError("--split must be a folder name");
  }
  if (a.command == "lc") {
    if (a.positional.size() != 1) throw UsageError("lc takes one dataset");
    a.out = parsed.get("out");
    if (a.out.empty()) throw UsageError("lc needs --out FILE.h5");
    a.ego_size = parse_count("ego-size", parsed.get("ego-size", "256"), 1);
    a.seeds = parsed.get("seeds", "all");
    if (a.seeds != "all" && a.seeds != "split") throw UsageError("--seeds must be all or split, got '" + a.seeds + "'");
    if (!parsed.get("threads").empty()) a.threads = static_cast<int>(parse_count("threads", parsed.get("threads"), 1));
  } else if (!parsed.get("out").empty() || !parsed.get("ego-size").empty() || !parsed.get("seeds").empty() ||
             !parsed.get("threads").empty()) {
    throw UsageError("--out, --ego-size, --seeds and --threads belong to the lc command");
  }
  a.progress = !parsed.on("no-progress");
  if (a.command != "inspect" && a.command != "convert" && a.command != "lc" && a.command != "export-ogb") {
    throw UsageError(a.command.empty() ? "missing command" : "unknown command '" + a.command + "'");
  }
  return a;
}

using graphmae2::util::seconds_since;

/// The seeds of `lc`: every node, or the train, valid and test nodes in that order (the reference's lists).
torch::Tensor lc_seeds(const ds::NodeDataset& data, const std::string& which) {
  if (which == "all") return torch::arange(data.num_nodes(), torch::kLong);
  return torch::cat(
      {data.train_mask.nonzero().flatten(), data.val_mask.nonzero().flatten(), data.test_mask.nonzero().flatten()});
}

int run_lc(const Args& a, const ds::NodeDataset& data) {
  if (a.threads > 0) at::set_num_threads(a.threads);
  auto t0 = std::chrono::steady_clock::now();
  const auto graph = graphmae2::graph::bidirected_with_self_loops(data.graph);
  const double prep_s = seconds_since(t0);
  const auto seeds = lc_seeds(data, a.seeds);
  if (seeds.size(0) == 0) throw std::runtime_error("lc: the dataset has no " + a.seeds + " seeds");
  graphmae2::graph::sampling::LocalClusteringOptions options;
  options.ego_size = a.ego_size;
  graphmae2::models::engine::ProgressBar bar("lc " + data.name, seeds.size(0), a.progress, 0);
  t0 = std::chrono::steady_clock::now();
  const auto egos = graphmae2::graph::sampling::local_clustering(graph, seeds, options, [&](int64_t done) {
    const double s = seconds_since(t0);
    bar.update(done, std::to_string(static_cast<int64_t>(done / std::max(s, 1e-9))) + " seeds/s");
  });
  const double lc_s = seconds_since(t0);
  bar.finish();
  ds::save_ego_graphs_h5(egos, graph, options, data.name, a.out);
  const int64_t n = seeds.size(0);
  const int threads = at::get_num_threads();
  std::cout << "wrote " << a.out << ": " << n << " ego-graphs (" << a.seeds << " seeds), " << egos.indices.size(0)
            << " nodes in all, ego size " << a.ego_size << "\n"
            << "graph " << graph.num_nodes() << " nodes, " << graph.num_edges()
            << " edges (bidirected, one self-loop per node), prepared in " << prep_s << " s\n"
            << "local clustering: " << lc_s << " s, " << static_cast<int64_t>(n / std::max(lc_s, 1e-9))
            << " seeds/s on " << threads << " thread(s), " << static_cast<int64_t>(n / std::max(lc_s, 1e-9) / threads)
            << " seeds/s per thread\n";
  return 0;
}

/// convert of an OGB folder without normalisation: the feature matrix goes from the download to the cache a chunk
/// of rows at a time, never whole (papers100M's is larger than most machines' memory).
void convert_ogb_streamed(const std::filesystem::path& dir, const std::string& split, const std::filesystem::path& out,
                          torch::ScalarType dtype, bool progress) {
  ds::OgbOptions options;
  options.features = false;
  options.split = split;
  const auto data = ds::read_ogb_node_dataset(dir, "", options);
  const auto shape = ds::ogb_feature_shape(dir);
  graphmae2::models::engine::ProgressBar bar("features -> " + out.filename().string(), shape[0], progress, 0);
  ds::save_dataset_h5_streamed(data, shape[1], out, dtype, [&](const ds::FeatureRowsWriter& write) {
    ds::read_ogb_features(dir, 1 << 16, [&](int64_t first, const torch::Tensor& rows) {
      write(first, rows);
      bar.update(first + rows.size(0), "");
    });
  });
  bar.finish();
}

int run(const Args& a) {
  const auto root = ds::resolve_data_root(a.data_root);
  auto t0 = std::chrono::steady_clock::now();
  std::optional<std::filesystem::path> stream_from;
  if (a.command == "convert" && !a.load.row_normalize && !a.load.standardize) {
    stream_from = ds::resolve_ogb_folder(a.positional[0], root);
  }
  if (stream_from) {
    const std::filesystem::path out = a.positional[1];
    convert_ogb_streamed(*stream_from, a.load.split, out, a.feature_dtype, a.progress);
    const double convert_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    const auto back = ds::load_dataset_h5(out, /*with_features=*/false);
    const auto features = ds::FeatureStore::open_h5(out, "features");
    std::cout << "wrote " << out.string() << " (" << back.num_nodes() << " nodes, " << back.graph.num_edges()
              << " edges, " << features.num_rows() << " x " << features.dim() << " "
              << (features.stored_dtype() == torch::kHalf ? "float16" : "float32") << " features, "
              << std::filesystem::file_size(out) << " bytes)\nparse and write (features streamed): " << convert_s
              << " s; read back .h5: " << seconds_since(t0) << " s\n";
    return 0;
  }
  auto data = ds::load_node_dataset(a.positional[0], root, a.load);
  const double parse_s = seconds_since(t0);
  if (a.command == "lc") return run_lc(a, data);
  if (a.command == "export-ogb") {
    t0 = std::chrono::steady_clock::now();
    // A symmetric graph is written as OGB stores arxiv: each undirected edge once.
    const bool symmetric = graphmae2::graph::reverse(data.graph) == data.graph;
    ds::write_ogb_node_dataset(data, a.positional[1], a.split, symmetric);
    std::cout << "wrote " << a.positional[1] << " (OGB CSV layout, split/" << a.split << "): " << data.num_nodes()
              << " nodes, " << (symmetric ? data.graph.num_edges() / 2 : data.graph.num_edges())
              << (symmetric ? " undirected" : " directed") << " edges, in " << seconds_since(t0) << " s\n";
    return 0;
  }
  if (a.command == "inspect") {
    std::cout << ds::to_string(ds::summarize(data)) << "load time: " << parse_s << " s\n";
    return 0;
  }
  const std::filesystem::path out = a.positional[1];
  t0 = std::chrono::steady_clock::now();
  ds::save_dataset_h5(data, out, a.feature_dtype);
  const double write_s = seconds_since(t0);
  data = ds::NodeDataset();  // read back below without holding the parsed copy too
  t0 = std::chrono::steady_clock::now();
  // Read back everything but the features (which may exceed memory: they are checked by shape and for finite
  // values in chunks, as feature_storage disk reads them).
  auto back = ds::load_dataset_h5(out, /*with_features=*/false);
  const auto features = ds::FeatureStore::open_h5(out, "features");
  const double load_s = seconds_since(t0);
  std::cout << "wrote " << out.string() << " (" << back.num_nodes() << " nodes, " << back.graph.num_edges()
            << " edges, " << features.num_rows() << " x " << features.dim() << " "
            << (features.stored_dtype() == torch::kHalf ? "float16" : "float32") << " features, "
            << std::filesystem::file_size(out) << " bytes)\n"
            << "parse " << a.positional[0] << ": " << parse_s << " s; write .h5: " << write_s
            << " s; read back .h5: " << load_s << " s\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  graphmae2::tools::exec_with_short_openmp_spin(argv);
  return graphmae2::tools::run_tool("graphmae2-data", kUsage, [&] {
    const Args args = parse(argc, argv);
    if (args.command == "help") {
      std::cout << kUsage;
      return 0;
    }
    return run(args);
  });
}
