#include "datasets/registry.h"

#include "datasets/dataset_h5.h"
#include "datasets/hdf5_io.h"
#include "datasets/edge_list.h"
#include "datasets/ogb.h"
#include "datasets/planetoid.h"
#include "datasets/synthetic.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <vector>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// What training cannot use, refused at load with where it came from: a graph of fewer than 2 nodes, and NaN or
// infinite features (the first one named), which would otherwise surface as a divergence much later.
void check_usable(const NodeDataset& ds, const std::string& source) {
  if (ds.num_nodes() < 2) {
    throw std::runtime_error(source + ": the graph has " + std::to_string(ds.num_nodes()) +
                             " node(s); self-supervised training needs at least 2");
  }
  // A declared class count (an attribute) is bounded by what the data backs: the nodes, or the largest label.
  const int64_t label_span = ds.labels.numel() > 0 ? ds.labels.max().item<int64_t>() + 1 : 0;
  if (ds.num_classes > std::max(ds.num_nodes(), label_span)) {
    throw std::runtime_error(source + ": " + std::to_string(ds.num_classes) + " classes declared for " +
                             std::to_string(ds.num_nodes()) + " nodes whose labels span " + std::to_string(label_span) +
                             "; check num_classes");
  }
  if (!ds.features.defined() || ds.features.numel() == 0) return;
  const auto bad = ds.features.isfinite().logical_not();
  if (!bad.any().item<bool>()) return;
  const auto at = bad.nonzero()[0];
  const int64_t row = at[0].item<int64_t>(), col = at[1].item<int64_t>();
  throw std::runtime_error(source + ": feature [" + std::to_string(row) + ", " + std::to_string(col) + "] (node " +
                           std::to_string(row) + ") is " + std::to_string(ds.features[row][col].item<double>()) +
                           "; every feature must be finite (" + std::to_string(bad.sum().item<int64_t>()) +
                           " are not)");
}

NodeDataset finish(NodeDataset ds, const LoadOptions& opts, const std::string& source) {
  check_usable(ds, source);
  if (opts.symmetrize) {
    auto rows = ds.graph.row_ids().contiguous();
    auto cols = ds.graph.indices.contiguous();
    const int64_t m = ds.graph.num_edges();
    // Row r holds the sources of r's incoming edges: edge cols[e] -> rows[e].
    std::vector<int64_t> src(cols.data_ptr<int64_t>(), cols.data_ptr<int64_t>() + m);
    std::vector<int64_t> dst(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + m);
    ds.graph = build_graph(src, dst, ds.num_nodes(), EdgeListOptions{.symmetrize = true, .deduplicate = true}, ds.name);
  }
  const auto applied = [&](const char* what) {
    if (!ds.feature_normalization.empty()) ds.feature_normalization += '+';
    ds.feature_normalization += what;
  };
  if (opts.row_normalize) {
    ds.features = row_normalize(ds.features);
    applied("row");
  }
  if (opts.standardize) {
    ds.features = standardize(ds.features);
    applied("standard");
  }
  return ds;
}

std::string joined(const std::vector<fs::path>& tried) {
  std::string out;
  for (const auto& p : tried) out += "\n  " + p.string();
  return out;
}

}  // namespace

fs::path resolve_data_root(const std::optional<std::string>& flag) {
  if (flag && !flag->empty()) return *flag;
  if (const char* env = std::getenv("GRAPHMAE2_DATA"); env && *env) return env;
  return "data";
}

std::optional<fs::path> resolve_ogb_folder(const std::string& name_or_path, const fs::path& data_root) {
  std::error_code ec;
  const fs::path as_path(name_or_path);
  if (fs::is_directory(as_path, ec) && is_ogb_folder(as_path)) return as_path;
  if (lower(name_or_path).rfind("ogbn-", 0) != 0) return std::nullopt;
  OgbInfo info;
  try {
    info = ogb_info(name_or_path);
  } catch (const std::runtime_error&) {
    return std::nullopt;  // load_node_dataset says which names exist
  }
  std::string folder = info.name;
  std::replace(folder.begin(), folder.end(), '-', '_');
  for (const auto& dir : {data_root / folder, data_root / info.name}) {
    if (is_ogb_folder(dir)) return dir;
  }
  return std::nullopt;
}

int64_t memory_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

void check_features_fit_memory(const std::string& name_or_path, const fs::path& data_root, int64_t available_bytes) {
  int64_t rows = 0, cols = 0;
  const fs::path as_path(name_or_path);
  if (as_path.extension() == ".h5" && fs::is_regular_file(as_path) && h5_has(as_path, "features")) {
    const auto shape = h5_shape(as_path, "features");
    if (shape.size() == 2) rows = shape[0], cols = shape[1];
  } else if (const auto dir = resolve_ogb_folder(name_or_path, data_root)) {
    try {
      const auto shape = ogb_feature_shape(*dir);
      rows = shape[0];
      cols = shape[1];
    } catch (const std::runtime_error&) {
      return;  // the reader names what is wrong with the folder
    }
  }
  const int64_t available = available_bytes >= 0 ? available_bytes : memory_available_bytes();
  if (rows <= 0 || cols <= 0 || available <= 0) return;
  const double need = 2.0 * 4.0 * static_cast<double>(rows) * static_cast<double>(cols);
  if (need <= static_cast<double>(available)) return;
  const auto gib = [](double b) {
    return std::to_string(static_cast<int64_t>(b / (1 << 30) * 10) / 10.0).substr(0, 5);
  };
  throw std::runtime_error(
      name_or_path + ": the feature matrix (" + std::to_string(rows) + " x " + std::to_string(cols) +
      " float32 and a working copy) needs about " + gib(need) + " GiB, but " + gib(static_cast<double>(available)) +
      " GiB of memory are available. Keep the features on disk: graphmae2-data convert " + name_or_path +
      " FILE.h5 --feature-dtype float16 (once), then train with --dataset FILE.h5 --feature_storage disk");
}

NodeDataset load_node_dataset(const std::string& name_or_path, const fs::path& data_root, const LoadOptions& opts) {
  const std::string key = lower(name_or_path);
  if (!opts.split.empty() && !resolve_ogb_folder(name_or_path, data_root)) {
    throw std::invalid_argument("--split " + opts.split + " chooses the split folder of an OGB dataset; '" +
                                name_or_path + "' is not one (or is not found under " + data_root.string() + ")");
  }
  const fs::path as_path(name_or_path);
  if (as_path.extension() == ".h5") {
    if (!fs::is_regular_file(as_path)) throw std::runtime_error(name_or_path + ": no such .h5 file");
    return finish(load_dataset_h5(as_path), opts, as_path.string());
  }
  if (key.rfind("synthetic", 0) == 0) {
    return finish(make_synthetic(parse_synthetic_spec(name_or_path)), opts, name_or_path);
  }
  std::error_code ec;
  OgbOptions ogb;
  ogb.split = opts.split;
  if (fs::is_directory(as_path, ec) && is_ogb_folder(as_path)) {
    return finish(read_ogb_node_dataset(as_path, "", ogb), opts, "OGB folder " + as_path.string());
  }
  if (key.rfind("ogbn-", 0) == 0) {
    const auto info = ogb_info(name_or_path);  // throws for unknown or unsupported names
    std::string folder = info.name;
    std::replace(folder.begin(), folder.end(), '-', '_');
    std::vector<fs::path> tried;
    for (const auto& dir : {data_root / folder, data_root / info.name}) {
      tried.push_back(dir / "raw");
      if (is_ogb_folder(dir))
        return finish(read_ogb_node_dataset(dir, info.name, ogb), opts, "OGB folder " + dir.string());
    }
    throw std::runtime_error("dataset '" + name_or_path + "' not found; looked for OGB raw layout in:" + joined(tried));
  }
  static const std::vector<std::pair<std::string, std::string>> planetoid = {
      {"cora", "Cora"}, {"citeseer", "CiteSeer"}, {"pubmed", "PubMed"}};
  for (const auto& [name, pyg_name] : planetoid) {
    if (key != name) continue;
    std::vector<fs::path> tried;
    for (const auto& dir : {data_root / "planetoid", data_root / pyg_name / "raw", data_root}) {
      const auto probe = dir / ("ind." + name + ".x");
      tried.push_back(probe);
      if (fs::is_regular_file(probe)) {
        return finish(read_planetoid(dir, name), opts, (dir / ("ind." + name + ".{allx,tx}")).string());
      }
    }
    throw std::runtime_error("dataset '" + name_or_path + "' not found; looked for:" + joined(tried));
  }
  throw std::runtime_error("unknown dataset '" + name_or_path + "' (data root " + data_root.string() +
                           "): expected cora, citeseer, pubmed, ogbn-arxiv, ogbn-products, ogbn-papers100M, "
                           "synthetic:..., a .h5 file or an OGB dataset folder");
}

}  // namespace graphmae2::datasets
