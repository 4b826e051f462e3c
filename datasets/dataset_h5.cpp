#include "datasets/dataset_h5.h"

#include "datasets/hdf5_io.h"

#include <charconv>
#include <stdexcept>

namespace graphmae2::datasets {
namespace {

constexpr const char* kFormat = "graphmae2-node-dataset";
constexpr const char* kVersion = "1";

}  // namespace

void save_dataset_h5(const NodeDataset& ds, const std::filesystem::path& file) {
  ds.validate();
  write_h5(file,
           {{"graph/indptr", ds.graph.indptr},
            {"graph/indices", ds.graph.indices},
            {"features", ds.features},
            {"labels", ds.labels},
            {"train_mask", ds.train_mask},
            {"val_mask", ds.val_mask},
            {"test_mask", ds.test_mask}},
           {{"format", kFormat},
            {"version", kVersion},
            {"name", ds.name},
            {"num_classes", std::to_string(ds.num_classes)}});
}

NodeDataset load_dataset_h5(const std::filesystem::path& file) {
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
  const std::string nc = attr("num_classes");
  auto [ptr, ec] = std::from_chars(nc.data(), nc.data() + nc.size(), ds.num_classes);
  if (ec != std::errc() || ptr != nc.data() + nc.size() || ds.num_classes < 0) {
    throw std::runtime_error(file.string() + ": attribute num_classes is '" + nc + "', expected an integer");
  }
  auto indptr = read_h5_tensor(file, "graph/indptr");
  auto indices = read_h5_tensor(file, "graph/indices");
  ds.features = read_h5_tensor(file, "features");
  ds.labels = read_h5_tensor(file, "labels");
  ds.train_mask = read_h5_tensor(file, "train_mask");
  ds.val_mask = read_h5_tensor(file, "val_mask");
  ds.test_mask = read_h5_tensor(file, "test_mask");
  try {
    const int64_t n = indptr.dim() == 1 ? indptr.size(0) - 1 : -1;
    ds.graph = graph::CsrGraph(indptr, indices, n);
    ds.validate();
  } catch (const c10::Error& e) {
    throw std::runtime_error(file.string() + ": inconsistent dataset: " + e.what_without_backtrace());
  }
  return ds;
}

}  // namespace graphmae2::datasets
