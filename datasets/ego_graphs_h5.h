#pragma once
// The local-clustering ego-graph file (graphmae2-data lc writes it, mini-batch training reads it): HDF5 that
// h5py reads, tied to the graph it was computed on.

#include "graph/csr_graph.h"
#include "graph/sampling/local_clustering.h"

#include <cstdint>
#include <filesystem>
#include <string>

namespace graphmae2::datasets {

/// @brief What identifies a graph: its sizes and a CRC-32 of its CSR arrays (indptr then indices, int64 bytes).
struct GraphFingerprint {
  int64_t num_nodes = 0;
  int64_t num_edges = 0;
  uint32_t crc32 = 0;

  bool operator==(const GraphFingerprint&) const = default;
  std::string to_string() const;  ///< e.g. "2708 nodes, 13264 edges, crc32 1a2b3c4d"
};

/// Returns: the fingerprint of `graph` (copies it to the host when on a device; O(edges)).
GraphFingerprint fingerprint(const graph::CsrGraph& graph);

/// Writes `egos` to `file` atomically. Root datasets: seeds int64 [S], indptr int64 [S + 1], indices int32 (each
/// seed's ego nodes, seed first; int64 for graphs of 2^31 nodes or more; the reader takes both). Root attributes:
/// format "graphmae2-lc-ego-graphs", version "1",
/// graph_num_nodes, graph_num_edges, graph_crc32 (of `graph`, the graph the push ran on), alpha, rho,
/// max_push_steps, ego_size, and `dataset` (a label, may be empty). Throws std::runtime_error naming the file.
void save_ego_graphs_h5(const graph::sampling::EgoGraphs& egos, const graph::CsrGraph& graph,
                        const graph::sampling::LocalClusteringOptions& options, const std::string& dataset,
                        const std::filesystem::path& file);

/// @brief A loaded ego-graph file and the parameters it records.
struct EgoGraphFile {
  graph::sampling::EgoGraphs egos;
  graph::sampling::LocalClusteringOptions options;
  GraphFingerprint graph;
  std::string dataset;
};

/// Reads a file written by save_ego_graphs_h5 and checks it: format and version, every array's shape, dtype and
/// range (indptr from 0, non-decreasing, ending at the index count; seeds and indices in [0, graph_num_nodes);
/// each ego-graph non-empty, at most ego_size nodes, starting with its seed). Throws std::runtime_error naming the
/// file and the first problem (the seed and position for a bad entry).
EgoGraphFile load_ego_graphs_h5(const std::filesystem::path& file);

/// As above, and refuses a file computed on another graph than `graph` (the graph local_clustering ran on),
/// naming both fingerprints.
EgoGraphFile load_ego_graphs_h5(const std::filesystem::path& file, const graph::CsrGraph& graph);

}  // namespace graphmae2::datasets
