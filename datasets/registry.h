#pragma once
// One entry point that turns a dataset name, spec or path into a NodeDataset.

#include "datasets/dataset.h"

#include <filesystem>
#include <optional>
#include <string>

namespace graphmae2::datasets {

/// @brief Preprocessing applied after a dataset is read (row-normalise first, then standardise).
struct LoadOptions {
  bool row_normalize = false;
  bool standardize = false;
  bool symmetrize = false;  ///< add reverse edges and deduplicate (a no-op for Planetoid, which is symmetric)
  std::string split;        ///< OGB folders: the split/ subfolder to read (default: master.csv's, or the only one)
};

/// The dataset root: `flag` if given, else $GRAPHMAE2_DATA, else ./data. Returns the path (not checked for
/// existence). No folder outside the caller's choice is searched: the data root is a setting, not a guess.
std::filesystem::path resolve_data_root(const std::optional<std::string>& flag);

/// Loads `name_or_path`:
///   cora | citeseer | pubmed (any case): ind.<name>.* in ROOT/planetoid/, ROOT/<Name>/raw/ (PyG), or ROOT;
///   ogbn-<name>: OGB raw layout in ROOT/ogbn_<name>/ (or ROOT/ogbn-<name>/);
///   synthetic:nodes=N,degree=D,classes=C,dim=F,homophily=H,seed=S: a contextual SBM;
///   a path to an .h5 cache (see save_dataset_h5), or to a folder in OGB raw layout.
/// Throws std::runtime_error listing every place tried when the dataset is not found.
NodeDataset load_node_dataset(const std::string& name_or_path, const std::filesystem::path& data_root,
                              const LoadOptions& opts = {});

/// The OGB dataset folder `name_or_path` names (a folder path, or ogbn-<name> under `data_root`), if there is one.
std::optional<std::filesystem::path> resolve_ogb_folder(const std::string& name_or_path,
                                                        const std::filesystem::path& data_root);

/// /proc/meminfo's MemAvailable in bytes (-1 where it cannot be read).
int64_t memory_available_bytes();

/// Refuses, before anything is read, a dataset whose float32 feature matrix (plus one working copy for
/// normalisation) would not fit the memory available now (/proc/meminfo MemAvailable): an .h5 cache, or an OGB
/// folder in CSV layout (rows from num-node-list, columns from node-feat's first line). Other datasets pass.
/// `available_bytes` < 0: read MemAvailable. Throws std::runtime_error with the sizes and how to build an .h5
/// cache and train with feature_storage disk.
void check_features_fit_memory(const std::string& name_or_path, const std::filesystem::path& data_root,
                               int64_t available_bytes = -1);

}  // namespace graphmae2::datasets
