#include "datasets/registry.h"

#include "datasets/dataset_h5.h"
#include "datasets/edge_list.h"
#include "datasets/ogb.h"
#include "datasets/planetoid.h"
#include "datasets/synthetic.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

NodeDataset finish(NodeDataset ds, const LoadOptions& opts) {
  if (opts.symmetrize) {
    auto rows = ds.graph.row_ids().contiguous();
    auto cols = ds.graph.indices.contiguous();
    const int64_t m = ds.graph.num_edges();
    // Row r holds the sources of r's incoming edges: edge cols[e] -> rows[e].
    std::vector<int64_t> src(cols.data_ptr<int64_t>(), cols.data_ptr<int64_t>() + m);
    std::vector<int64_t> dst(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + m);
    ds.graph = build_graph(src, dst, ds.num_nodes(), EdgeListOptions{.symmetrize = true, .deduplicate = true}, ds.name);
  }
  if (opts.row_normalize) ds.features = row_normalize(ds.features);
  if (opts.standardize) ds.features = standardize(ds.features);
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
  const fs::path shared = fs::path("..") / "shared" / "datasets";
  std::error_code ec;
  if (fs::is_directory(shared, ec)) return shared;
  return "data";
}

NodeDataset load_node_dataset(const std::string& name_or_path, const fs::path& data_root, const LoadOptions& opts) {
  const std::string key = lower(name_or_path);
  const fs::path as_path(name_or_path);
  if (as_path.extension() == ".h5") {
    if (!fs::is_regular_file(as_path)) throw std::runtime_error(name_or_path + ": no such .h5 file");
    return finish(load_dataset_h5(as_path), opts);
  }
  if (key.rfind("synthetic", 0) == 0) return finish(make_synthetic(parse_synthetic_spec(name_or_path)), opts);
  std::error_code ec;
  if (fs::is_directory(as_path, ec) && is_ogb_folder(as_path)) return finish(read_ogb_node_dataset(as_path), opts);
  if (key.rfind("ogbn-", 0) == 0) {
    const auto info = ogb_info(name_or_path);  // throws for unknown or unsupported names
    std::string folder = info.name;
    std::replace(folder.begin(), folder.end(), '-', '_');
    std::vector<fs::path> tried;
    for (const auto& dir : {data_root / folder, data_root / info.name}) {
      tried.push_back(dir / "raw");
      if (is_ogb_folder(dir)) return finish(read_ogb_node_dataset(dir, info.name), opts);
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
      if (fs::is_regular_file(probe)) return finish(read_planetoid(dir, name), opts);
    }
    throw std::runtime_error("dataset '" + name_or_path + "' not found; looked for:" + joined(tried));
  }
  throw std::runtime_error("unknown dataset '" + name_or_path + "' (data root " + data_root.string() +
                           "): expected cora, citeseer, pubmed, ogbn-arxiv, ogbn-products, ogbn-papers100M, "
                           "synthetic:..., a .h5 file or an OGB dataset folder");
}

}  // namespace graphmae2::datasets
