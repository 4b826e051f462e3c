#pragma once
// OGB node-property datasets (ogbn-arxiv, ogbn-products, ogbn-papers100M) from the files OGB downloads.

#include "datasets/dataset.h"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace graphmae2::datasets {

/// @brief What OGB's master.csv says about a node dataset.
struct OgbInfo {
  std::string name;  ///< e.g. "ogbn-arxiv"
  bool add_inverse_edge = false;
  std::string split;  ///< folder under split/, e.g. "time"
  int64_t num_classes = 0;
};

/// Returns: the master.csv facts for ogbn-arxiv, ogbn-products or ogbn-papers100M.
/// Throws std::runtime_error for other names (ogbn-proteins and ogbn-mag are not single-label homogeneous).
OgbInfo ogb_info(const std::string& name);

/// @brief How read_ogb_node_dataset treats the edges beyond what OGB defines.
struct OgbOptions {
  std::optional<bool> add_inverse_edge;  ///< default: master.csv (products: true, arxiv/papers100M: false)
  std::string split;                     ///< default: master.csv's split folder
  bool symmetrize = false;               ///< add every reverse edge, deduplicated (GraphMAE2 does this for arxiv)
  bool drop_self_loops = false;
  /// false: leave the feature matrix unread (the dataset's features are [N, 0]); stream it with read_ogb_features.
  bool features = true;
};

/// Reads an OGB node dataset folder `dir` (holding raw/ and split/). CSV layout: raw/edge.csv.gz ("src,dst"),
/// raw/node-feat.csv.gz, raw/node-label.csv.gz, raw/num-node-list.csv.gz, raw/num-edge-list.csv.gz; binary
/// layout (papers100M): raw/data.npz + raw/node-label.npz. Edge src -> dst is stored in row dst (CsrGraph).
/// `name` defaults to the folder name with '_' -> '-'. Unlabelled nodes get label 0 and must be in no split.
/// Throws std::runtime_error naming the missing file, or the file and line (byte offset for npz) of bad data.
NodeDataset read_ogb_node_dataset(const std::filesystem::path& dir, const std::string& name = "",
                                  const OgbOptions& opts = {});

/// Writes `ds` as an OGB node dataset folder in the CSV layout read_ogb_node_dataset reads (each file gzip'd and
/// written atomically): raw/edge.csv.gz (each stored edge "src,dst"; with `undirected_once`, each pair of a
/// symmetric graph once, as OGB stores arxiv), raw/node-feat.csv.gz, raw/node-label.csv.gz,
/// raw/num-node-list.csv.gz, raw/num-edge-list.csv.gz and split/<split>/{train,valid,test}.csv.gz. For synthetic
/// stand-ins of the ogbn datasets, read back through the path a user's download takes. Throws
/// std::runtime_error naming the file on a failed write.
void write_ogb_node_dataset(const NodeDataset& ds, const std::filesystem::path& dir, const std::string& split,
                            bool undirected_once);

/// The shape [N, D] of the node features of OGB folder `dir`, without reading them (binary layout: the npy
/// header of node_feat; CSV layout: num-node-list and the columns of node-feat's first line). Throws naming the file.
std::vector<int64_t> ogb_feature_shape(const std::filesystem::path& dir);

/// Passes the node features of OGB folder `dir` to `on_rows` as float32 chunks of `rows_per_chunk` rows, in order.
/// Binary layout: read from data.npz a chunk at a time (only one chunk in memory: papers100M's matrix exceeds
/// most machines' memory); CSV layout: parsed whole, then passed on in chunks. Throws naming the file.
void read_ogb_features(const std::filesystem::path& dir, int64_t rows_per_chunk,
                       const std::function<void(int64_t first_row, const torch::Tensor& rows)>& on_rows);

/// Returns: true if `dir` looks like an OGB node dataset folder (raw/num-node-list.csv.gz or raw/data.npz).
bool is_ogb_folder(const std::filesystem::path& dir);

/// Reads a one-number OGB file (num-node-list.csv.gz, num-edge-list.csv.gz) of a single graph.
/// Returns: the number. Throws naming the file and line if it is not exactly one non-negative integer.
int64_t read_ogb_count(const std::filesystem::path& file);

/// @brief Train/valid/test masks.
struct SplitMasks {
  torch::Tensor train, valid, test;  ///< bool [N]
};

/// OGB's time split of arxiv/papers100M from node years: train <= last_train_year, valid == valid_year,
/// test > valid_year. `years`: integer [N] or [N, 1]. Returns: three disjoint bool [N] masks.
SplitMasks ogb_time_split(const torch::Tensor& years, int64_t last_train_year = 2017, int64_t valid_year = 2018);

}  // namespace graphmae2::datasets
