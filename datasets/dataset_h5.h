#pragma once
// The .h5 cache of a NodeDataset: parse a dataset once, load it fast afterwards.

#include "datasets/dataset.h"

#include <filesystem>
#include <functional>

namespace graphmae2::datasets {

/// Writes `ds` to `file` (atomically): datasets graph/indptr, graph/indices (int64), features ([N, D], stored
/// contiguously as `feature_dtype`: float32, or float16 for half the disk and memory), labels (int64 [N]),
/// train_mask/val_mask/test_mask (bool [N]); root attributes format, version, name, num_classes. Throws
/// std::invalid_argument naming the entry if a feature overflows float16; std::runtime_error naming the file on
/// failure.
void save_dataset_h5(const NodeDataset& ds, const std::filesystem::path& file,
                     torch::ScalarType feature_dtype = torch::kFloat32);

/// Receives rows first_row.. of a feature matrix (float32).
using FeatureRowsWriter = std::function<void(int64_t first_row, const torch::Tensor& rows)>;

/// save_dataset_h5 for a feature matrix too large to hold: `ds` carries no feature columns ([N, 0]), and
/// `write_features(writer)` passes every row of the [N, feature_dim] matrix to `writer` once, in chunks, in any
/// order (e.g. read_ogb_features). Throws like save_dataset_h5; `file` is untouched on any failure.
void save_dataset_h5_streamed(const NodeDataset& ds, int64_t feature_dim, const std::filesystem::path& file,
                              torch::ScalarType feature_dtype,
                              const std::function<void(const FeatureRowsWriter&)>& write_features);

/// Reads a file written by save_dataset_h5; float16 features are widened to float32. With `with_features`
/// false, the features are left on disk (read them with FeatureStore::open_h5(file, "features")) and the
/// dataset's features are an empty [N, 0] matrix. Returns: the dataset, validated (NodeDataset::validate).
/// Throws std::runtime_error naming the file and the missing or inconsistent dataset/attribute.
NodeDataset load_dataset_h5(const std::filesystem::path& file, bool with_features = true);

}  // namespace graphmae2::datasets
