#include "datasets/ogb.h"

#include "datasets/csv_gz.h"
#include "datasets/edge_list.h"
#include "datasets/npz.h"
#include "util/atomic_file.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <utility>

namespace graphmae2::datasets {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& file, const std::string& what) {
  throw std::runtime_error(file.string() + ": " + what);
}

void require(const fs::path& file, const char* role) {
  if (!fs::is_regular_file(file)) {
    fail(file, std::string("missing OGB file (") + role + "); an OGB node dataset folder holds raw/edge.csv.gz, " +
                   "raw/node-feat.csv.gz, raw/node-label.csv.gz, raw/num-node-list.csv.gz, " +
                   "raw/num-edge-list.csv.gz and split/<name>/{train,valid,test}.csv.gz");
  }
}

// An npz array that must hold integers (edge_index, num_nodes_list) as int64: a floating array is accepted only
// when every value is integral, else refused naming the first fraction (a cast would truncate it silently).
torch::Tensor integral_array(torch::Tensor a, const fs::path& file, const std::string& name) {
  if (!a.is_floating_point()) return a.to(torch::kInt64);
  const auto flat = a.reshape({-1}).to(torch::kFloat64);
  const auto bad = (flat != flat.trunc()) | flat.isinf() | flat.isnan();
  if (bad.any().item<bool>()) {
    const int64_t k = bad.nonzero()[0][0].item<int64_t>();
    fail(file, name + " must hold integers, but entry " + std::to_string(k) + " is " +
                   std::to_string(flat[k].item<double>()));
  }
  return a.to(torch::kInt64);
}

// Labels from node-label.npz: float with NaN for unlabelled nodes (papers100M), or integers.
torch::Tensor labels_from_array(torch::Tensor a, const fs::path& file) {
  if (a.dim() == 2 && a.size(1) == 1) a = a.squeeze(1);
  if (a.dim() != 1) fail(file, "node_label must be [N] or [N, 1], got " + std::to_string(a.dim()) + " dims");
  if (!a.is_floating_point()) {
    a = a.to(torch::kInt64);
    if (a.numel() > 0 && a.min().item<int64_t>() < 0) fail(file, "node_label holds a negative class");
    return a;
  }
  auto d = a.to(torch::kFloat64).contiguous();
  auto out = torch::empty({d.size(0)}, torch::kInt64);
  const double* p = d.data_ptr<double>();
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t k = 0; k < d.size(0); ++k) {
    if (std::isnan(p[k])) {
      o[k] = -1;
    } else if (p[k] < 0 || p[k] != std::floor(p[k]) || p[k] > 9.0e15) {
      fail(file, "node_label[" + std::to_string(k) + "] = " + std::to_string(p[k]) + " is not a class id");
    } else {
      o[k] = static_cast<int64_t>(p[k]);
    }
  }
  return out;
}

torch::Tensor split_mask(const fs::path& file, int64_t n) {
  require(file, "split node ids");
  const auto ids = read_int_csv(file, 1);
  auto mask = torch::zeros({n}, torch::kBool);
  bool* m = mask.data_ptr<bool>();
  for (size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] < 0 || ids[k] >= n) {
      fail(file, "line " + std::to_string(k + 1) + ": node id " + std::to_string(ids[k]) + " outside [0, " +
                     std::to_string(n) + ")");
    }
    m[ids[k]] = true;
  }
  return mask;
}

// The subfolders of `dir`, sorted, and the same joined by ", " (for messages).
std::pair<std::vector<std::string>, std::string> subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_directory()) names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  return {names, list};
}

std::string only_subfolder(const fs::path& dir) {
  const auto [names, list] = subfolders(dir);
  if (names.size() != 1) {
    fail(dir, "has " + std::to_string(names.size()) + " split folders" + (names.empty() ? "" : " (" + list + ")") +
                  "; choose one with --split NAME");
  }
  return names[0];
}

}  // namespace

namespace {

// master.csv rows of the supported datasets; '_' and case are ignored in the lookup.
const OgbInfo* find_known(const std::string& name) {
  static const OgbInfo known[] = {{"ogbn-arxiv", false, "time", 40},
                                  {"ogbn-products", true, "sales_ranking", 47},
                                  {"ogbn-papers100M", false, "time", 172}};
  std::string key = name;
  std::replace(key.begin(), key.end(), '_', '-');
  for (const auto& k : known) {
    if (k.name.size() == key.size() && std::equal(key.begin(), key.end(), k.name.begin(),
                                                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return &k;
    }
  }
  return nullptr;
}

}  // namespace

OgbInfo ogb_info(const std::string& name) {
  if (const OgbInfo* k = find_known(name)) return *k;
  std::string key = name;
  std::replace(key.begin(), key.end(), '_', '-');
  if (key == "ogbn-proteins" || key == "ogbn-mag") {
    throw std::runtime_error(name +
                             ": not supported (proteins is multi-label with edge features; mag is heterogeneous)");
  }
  throw std::runtime_error(name + ": unknown OGB dataset (known: ogbn-arxiv, ogbn-products, ogbn-papers100M)");
}

bool is_ogb_folder(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "raw" / "num-node-list.csv.gz", ec) ||
         fs::is_regular_file(dir / "raw" / "data.npz", ec);
}

int64_t read_ogb_count(const fs::path& file) {
  require(file, "a count");
  const auto v = read_int_csv(file, 1);
  if (v.size() != 1) fail(file, "holds " + std::to_string(v.size()) + " lines, expected one (a single graph)");
  if (v[0] < 0) fail(file, "line 1: negative count " + std::to_string(v[0]));
  return v[0];
}

std::vector<int64_t> ogb_feature_shape(const fs::path& dir) {
  const fs::path raw = dir / "raw";
  if (fs::is_regular_file(raw / "data.npz")) {
    auto shape = npz::npz_array_shape(raw / "data.npz", "node_feat");
    if (shape.size() != 2) fail(raw / "data.npz", "node_feat must be a matrix [N, D]");
    return shape;
  }
  const auto feat_file = raw / "node-feat.csv.gz";
  require(feat_file, "node features");
  gzFile f = gzopen(feat_file.c_str(), "rb");
  if (f == nullptr) fail(feat_file, "cannot open");
  std::string line;
  char buf[4096];
  while (gzgets(f, buf, sizeof buf) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') break;
  }
  gzclose(f);
  if (line.empty()) fail(feat_file, "line 1: empty file");
  return {read_ogb_count(raw / "num-node-list.csv.gz"),
          1 + static_cast<int64_t>(std::count(line.begin(), line.end(), ','))};
}

void read_ogb_features(const fs::path& dir, int64_t rows_per_chunk,
                       const std::function<void(int64_t first_row, const torch::Tensor& rows)>& on_rows) {
  TORCH_CHECK(rows_per_chunk >= 1, "read_ogb_features: rows_per_chunk must be >= 1, got ", rows_per_chunk);
  const fs::path raw = dir / "raw";
  if (fs::is_regular_file(raw / "data.npz")) {
    npz::read_npz_rows(raw / "data.npz", "node_feat", rows_per_chunk,
                       [&](int64_t first, const torch::Tensor& rows) { on_rows(first, rows.to(torch::kFloat32)); });
    return;
  }
  const auto shape = ogb_feature_shape(dir);
  const auto features = read_float_csv(raw / "node-feat.csv.gz", shape[0]);
  for (int64_t first = 0; first < features.size(0); first += rows_per_chunk) {
    on_rows(first, features.narrow(0, first, std::min(rows_per_chunk, features.size(0) - first)));
  }
}

SplitMasks ogb_time_split(const torch::Tensor& years_in, int64_t last_train_year, int64_t valid_year) {
  TORCH_CHECK(years_in.dim() == 1 || (years_in.dim() == 2 && years_in.size(1) == 1),
              "ogb_time_split: years must be [N] or [N, 1], got ", years_in.sizes());
  TORCH_CHECK(!years_in.is_floating_point(), "ogb_time_split: years must be integers, got ", years_in.scalar_type());
  TORCH_CHECK(last_train_year < valid_year, "ogb_time_split: last train year ", last_train_year,
              " must precede the valid year ", valid_year);
  auto years = years_in.reshape({-1}).to(torch::kInt64);
  return {years <= last_train_year, years == valid_year, years > valid_year};
}

namespace {

// What an OGB raw/ folder holds, in either of OGB's layouts (data.npz, or the CSV files).
struct OgbRaw {
  int64_t nodes = 0;
  std::vector<int64_t> src, dst;
  torch::Tensor features, labels;
  fs::path label_file, edge_source;
};

OgbRaw read_npz_layout(const fs::path& raw, bool with_features) {
  OgbRaw r;
  const auto data = raw / "data.npz";
  r.edge_source = data;
  r.label_file = raw / "node-label.npz";
  require(r.label_file, "node labels");
  auto nn = integral_array(npz::read_npz_array(data, "num_nodes_list"), data, "num_nodes_list").reshape({-1});
  if (nn.numel() != 1) fail(data, "num_nodes_list holds " + std::to_string(nn.numel()) + " graphs, expected one");
  const int64_t n = r.nodes = nn[0].item<int64_t>();
  auto ei = npz::read_npz_array(data, "edge_index");
  if (ei.dim() != 2 || ei.size(0) != 2) fail(data, "edge_index must be [2, E]");
  ei = integral_array(ei, data, "edge_index").contiguous();
  const int64_t* e = ei.data_ptr<int64_t>();
  const int64_t m = ei.size(1);
  r.src.assign(e, e + m);
  r.dst.assign(e + m, e + 2 * m);
  r.labels = labels_from_array(npz::read_npz_array(r.label_file, "node_label"), r.label_file);
  if (with_features) {
    r.features = npz::read_npz_array(data, "node_feat");
    if (r.features.dim() != 2 || r.features.size(0) != n) {
      fail(data, "node_feat must be [" + std::to_string(n) + ", D]");
    }
    r.features = r.features.to(torch::kFloat32);
  } else {
    const auto shape = npz::npz_array_shape(data, "node_feat");
    if (shape.size() != 2 || shape[0] != n) fail(data, "node_feat must be [" + std::to_string(n) + ", D]");
    r.features = torch::empty({n, 0}, torch::kFloat32);
  }
  return r;
}

OgbRaw read_csv_layout(const fs::path& raw, bool with_features) {
  OgbRaw r;
  const auto edge_file = raw / "edge.csv.gz", feat_file = raw / "node-feat.csv.gz";
  r.edge_source = edge_file;
  r.label_file = raw / "node-label.csv.gz";
  require(raw / "num-node-list.csv.gz", "node count");
  require(raw / "num-edge-list.csv.gz", "edge count");
  require(edge_file, "edges");
  require(feat_file, "node features");
  require(r.label_file, "node labels");
  r.nodes = read_ogb_count(raw / "num-node-list.csv.gz");
  const int64_t m = read_ogb_count(raw / "num-edge-list.csv.gz");
  {
    const auto flat = read_int_csv(edge_file, 2);
    if (static_cast<int64_t>(flat.size()) != 2 * m) {
      fail(edge_file,
           "has " + std::to_string(flat.size() / 2) + " edges, num-edge-list.csv.gz says " + std::to_string(m));
    }
    r.src.resize(static_cast<size_t>(m));
    r.dst.resize(static_cast<size_t>(m));
    for (int64_t k = 0; k < m; ++k) {
      r.src[k] = flat[2 * k];
      r.dst[k] = flat[2 * k + 1];
    }
  }
  r.features = with_features ? read_float_csv(feat_file, r.nodes) : torch::empty({r.nodes, 0}, torch::kFloat32);
  r.labels = read_label_csv(r.label_file);
  return r;
}

// The split folder's train/valid/test masks into `ds`; the name of the split read.
std::string read_split(const fs::path& dir, const OgbInfo& info, const OgbOptions& opts, int64_t n, NodeDataset& ds) {
  const std::string split = !opts.split.empty()   ? opts.split
                            : !info.split.empty() ? info.split
                                                  : only_subfolder(dir / "split");
  const fs::path split_dir = dir / "split" / split;
  if (!fs::is_directory(split_dir)) {
    const auto [names, list] = subfolders(dir / "split");
    fail(split_dir, "missing: the split folder (train/valid/test.csv.gz)" +
                        (names.empty() ? std::string("; ") + (dir / "split").string() + " holds none"
                                       : "; there are: " + list + " (choose one with --split NAME)"));
  }
  ds.train_mask = split_mask(split_dir / "train.csv.gz", n);
  ds.val_mask = split_mask(split_dir / "valid.csv.gz", n);
  ds.test_mask = split_mask(split_dir / "test.csv.gz", n);
  return split;
}

// Labels into `ds` (unlabelled -1 become 0 outside the splits), refused when a split node has none or a class id
// exceeds the known class count.
void set_labels(const OgbRaw& r, const OgbInfo& info, const std::string& split, NodeDataset& ds) {
  const auto unlabelled = r.labels < 0;
  const auto in_split = ds.train_mask | ds.val_mask | ds.test_mask;
  if ((unlabelled & in_split).any().item<bool>()) {
    const int64_t v = (unlabelled & in_split).nonzero()[0][0].item<int64_t>();
    fail(r.label_file, "node " + std::to_string(v) + " is in split '" + split + "' but has no label");
  }
  const int64_t max_label = r.nodes > 0 ? r.labels.max().item<int64_t>() : -1;
  ds.num_classes = info.num_classes > 0 ? info.num_classes : max_label + 1;
  if (max_label >= ds.num_classes) {
    fail(r.label_file, "class id " + std::to_string(max_label) + " but " + ds.name + " has " +
                           std::to_string(ds.num_classes) + " classes");
  }
  ds.labels = r.labels.clamp_min(0);
}

}  // namespace

NodeDataset read_ogb_node_dataset(const fs::path& dir, const std::string& name_in, const OgbOptions& opts) {
  std::string name = name_in;
  if (name.empty()) {
    name = (dir.filename().empty() ? dir.parent_path() : dir).filename().string();
    std::replace(name.begin(), name.end(), '_', '-');
  }
  // Known OGB names take master.csv's facts; any other name (a dataset exported in OGB layout, a partial
  // copy) is read with no inverse edges, the only split folder, and classes from the labels.
  const OgbInfo* known = find_known(name);
  const OgbInfo info = known ? *known : OgbInfo{name, false, "", 0};
  const bool add_inverse = opts.add_inverse_edge.value_or(info.add_inverse_edge);
  const fs::path raw = dir / "raw";
  if (!fs::is_directory(raw)) fail(raw, "missing: an OGB dataset folder holds raw/ and split/");
  const OgbRaw r =
      fs::is_regular_file(raw / "data.npz") ? read_npz_layout(raw, opts.features) : read_csv_layout(raw, opts.features);
  const int64_t n = r.nodes;
  if (r.labels.size(0) != n) {
    fail(r.label_file, "has " + std::to_string(r.labels.size(0)) + " labels for " + std::to_string(n) + " nodes");
  }
  NodeDataset ds;
  ds.name = name;
  const auto split = read_split(dir, info, opts, n, ds);
  set_labels(r, info, split, ds);
  ds.features = r.features;
  ds.graph = build_graph(r.src, r.dst, n,
                         EdgeListOptions{.symmetrize = add_inverse || opts.symmetrize,
                                         .drop_self_loops = opts.drop_self_loops,
                                         .deduplicate = opts.symmetrize},
                         r.edge_source.string());
  ds.validate();
  return ds;
}

}  // namespace graphmae2::datasets

namespace graphmae2::datasets {

namespace {

/// Writes text produced by `fill` (called with a line buffer to append to and flush) to a gzip file, atomically.
void write_gz(const fs::path& file, const std::function<void(const std::function<void(const std::string&)>&)>& fill) {
  util::atomic_write(file, [&](const fs::path& tmp) {
    gzFile gz = gzopen(tmp.c_str(), "wb6");
    if (gz == nullptr) throw std::runtime_error(tmp.string() + ": cannot open for writing");
    std::string buffer;
    const auto flush = [&] {
      if (!buffer.empty() &&
          gzwrite(gz, buffer.data(), static_cast<unsigned>(buffer.size())) != static_cast<int>(buffer.size())) {
        gzclose(gz);
        throw std::runtime_error(file.string() + ": write failed (disk full?)");
      }
      buffer.clear();
    };
    fill([&](const std::string& text) {
      buffer += text;
      if (buffer.size() > (1 << 20)) flush();
    });
    flush();
    if (gzclose(gz) != Z_OK) throw std::runtime_error(file.string() + ": write failed on close (disk full?)");
  });
}

}  // namespace

void write_ogb_node_dataset(const NodeDataset& ds, const fs::path& dir, const std::string& split,
                            bool undirected_once) {
  ds.validate();
  const fs::path raw = dir / "raw";
  const auto ip = ds.graph.indptr.contiguous(), ix = ds.graph.indices.contiguous();
  const int64_t* p = ip.data_ptr<int64_t>();
  const int64_t* c = ix.data_ptr<int64_t>();
  const int64_t n = ds.num_nodes();
  int64_t edges = 0;
  // Row r stores the edges c -> r (CsrGraph rows are destinations).
  write_gz(raw / "edge.csv.gz", [&](const auto& out) {
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t e = p[r]; e < p[r + 1]; ++e) {
        if (undirected_once && c[e] > r) continue;
        out(std::to_string(c[e]) + "," + std::to_string(r) + "\n");
        ++edges;
      }
    }
  });
  write_gz(raw / "num-node-list.csv.gz", [&](const auto& out) { out(std::to_string(n) + "\n"); });
  write_gz(raw / "num-edge-list.csv.gz", [&](const auto& out) { out(std::to_string(edges) + "\n"); });
  const auto feats = ds.features.to(torch::kFloat).contiguous();
  const float* f = feats.data_ptr<float>();
  const int64_t d = feats.size(1);
  write_gz(raw / "node-feat.csv.gz", [&](const auto& out) {
    char num[32];
    std::string line;
    for (int64_t v = 0; v < n; ++v) {
      line.clear();
      for (int64_t k = 0; k < d; ++k) {
        std::snprintf(num, sizeof num, "%.9g", static_cast<double>(f[v * d + k]));  // float32 round-trips
        if (k) line += ',';
        line += num;
      }
      line += '\n';
      out(line);
    }
  });
  const auto labels = ds.labels.contiguous();
  write_gz(raw / "node-label.csv.gz", [&](const auto& out) {
    for (int64_t v = 0; v < n; ++v) out(std::to_string(labels.data_ptr<int64_t>()[v]) + "\n");
  });
  const auto write_split = [&](const char* name, const torch::Tensor& mask) {
    const auto ids = mask.nonzero().flatten().contiguous();
    write_gz(dir / "split" / split / name, [&](const auto& out) {
      for (int64_t i = 0; i < ids.size(0); ++i) out(std::to_string(ids.data_ptr<int64_t>()[i]) + "\n");
    });
  };
  write_split("train.csv.gz", ds.train_mask);
  write_split("valid.csv.gz", ds.val_mask);
  write_split("test.csv.gz", ds.test_mask);
}

}  // namespace graphmae2::datasets
