#pragma once
// The .h5 cache of a NodeDataset: parse a dataset once, load it fast afterwards.

#include "datasets/dataset.h"

#include <filesystem>

namespace graphmae2::datasets {

/// Writes `ds` to `file` (atomically): datasets graph/indptr, graph/indices (int64), features (float32 [N, D]),
/// labels (int64 [N]), train_mask/val_mask/test_mask (bool [N]); root attributes format, version, name,
/// num_classes. Throws std::runtime_error naming the file on failure.
void save_dataset_h5(const NodeDataset& ds, const std::filesystem::path& file);

/// Reads a file written by save_dataset_h5. Returns: the dataset, validated (NodeDataset::validate).
/// Throws std::runtime_error naming the file and the missing or inconsistent dataset/attribute.
NodeDataset load_dataset_h5(const std::filesystem::path& file);

}  // namespace graphmae2::datasets
