#include "datasets/dataset_h5.h"

#include "datasets/hdf5_io.h"

#include <charconv>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

constexpr const char* kFormat = "graphmae2-node-dataset";
constexpr const char* kVersion = "1";

}  // namespace

void save_dataset_h5_streamed(const NodeDataset& ds, int64_t feature_dim, const std::filesystem::path& file,
                              torch::ScalarType feature_dtype,
                              const std::function<void(const FeatureRowsWriter&)>& write_features) {
  ds.validate();
  TORCH_CHECK(feature_dtype == torch::kFloat32 || feature_dtype == torch::kFloat16,
              "save_dataset_h5: features are stored as float32 or float16, not ", feature_dtype);
  TORCH_CHECK(feature_dim >= 0, "save_dataset_h5: feature_dim must be >= 0, got ", feature_dim);
  // Contiguous, so that feature_storage disk can read rows by byte offset.
  const StreamedDataset features{"features", feature_dtype, {ds.num_nodes(), feature_dim}, /*contiguous=*/true};
  write_h5_streamed(file,
                    {{"graph/indptr", ds.graph.indptr},
                     {"graph/indices", ds.graph.indices},
                     {"labels", ds.labels},
                     {"train_mask", ds.train_mask},
                     {"val_mask", ds.val_mask},
                     {"test_mask", ds.test_mask}},
                    {{"format", kFormat},
                     {"version", kVersion},
                     {"name", ds.name},
                     {"num_classes", std::to_string(ds.num_classes)},
                     {"feature_normalization", ds.feature_normalization.empty() ? "none" : ds.feature_normalization}},
                    features, [&](H5RowSink& sink) {
                      write_features([&](int64_t first_row, const torch::Tensor& rows) {
                        sink.write_rows(first_row, feature_dtype == torch::kFloat16
                                                       ? to_float16_checked(rows.to(torch::kFloat32), first_row)
                                                       : rows.to(torch::kFloat32));
                      });
                    });
}

void save_dataset_h5(const NodeDataset& ds, const std::filesystem::path& file, torch::ScalarType feature_dtype) {
  ds.validate();
  auto without_features = ds;
  without_features.features = torch::empty({ds.num_nodes(), 0}, torch::kFloat32);
  save_dataset_h5_streamed(without_features, ds.feature_dim(), file, feature_dtype,
                           [&](const FeatureRowsWriter& write) { write(0, ds.features); });
}

NodeDataset load_dataset_h5(const std::filesystem::path& file, bool with_features) {
  auto attrs = read_h5_attrs(file);
  auto attr = [&](const char* key) {
    auto it = attrs.find(key);
    if (it == attrs.end()) throw std::runtime_error(file.string() + ": missing attribute '" + key + "'");
    return it->second;
  };
  if (attr("format") != kFormat || attr("version") != kVersion) {
    throw std::runtime_error(file.string() + ": format '" + attr("format") + "' version " + attr("version") +
                             ", expected '" + kFormat + "' version " + kVersion);
  }
  NodeDataset ds;
  ds.name = attr("name");
  // Caches written before the attribute existed record nothing: read as none.
  if (const auto it = attrs.find("feature_normalization"); it != attrs.end() && it->second != "none") {
    ds.feature_normalization = it->second;
  }
  const std::string nc = attr("num_classes");
  auto [ptr, ec] = std::from_chars(nc.data(), nc.data() + nc.size(), ds.num_classes);
  if (ec != std::errc() || ptr != nc.data() + nc.size() || ds.num_classes < 0) {
    throw std::runtime_error(file.string() + ": attribute num_classes is '" + nc + "', expected an integer");
  }
  auto indptr = read_h5_tensor(file, "graph/indptr");
  auto indices = read_h5_tensor(file, "graph/indices");
  ds.labels = read_h5_tensor(file, "labels");
  ds.train_mask = read_h5_tensor(file, "train_mask");
  ds.val_mask = read_h5_tensor(file, "val_mask");
  ds.test_mask = read_h5_tensor(file, "test_mask");
  try {
    const int64_t n = indptr.dim() == 1 ? indptr.size(0) - 1 : -1;
    if (with_features) {
      ds.features = read_h5_tensor(file, "features");
      if (ds.features.scalar_type() == torch::kFloat16) ds.features = ds.features.to(torch::kFloat32);
    } else {
      if (!h5_has(file, "features")) throw std::runtime_error(file.string() + ": has no dataset 'features'");
      ds.features = torch::empty({std::max<int64_t>(n, 0), 0}, torch::kFloat32);
    }
    ds.graph = graph::CsrGraph(indptr, indices, n);
    ds.validate();
  } catch (const c10::Error& e) {
    throw std::runtime_error(file.string() + ": inconsistent dataset: " + e.what_without_backtrace());
  }
  return ds;
}

}  // namespace graphmae2::datasets
