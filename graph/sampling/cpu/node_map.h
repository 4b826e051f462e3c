#pragma once
// A node-indexed map from parent node ids to local ids, reset sparsely, kept per thread: samplers relabel
// each batch in O(batch) time instead of paying O(num_nodes) per call for a fresh array or a hash map.

#include <cstdint>
#include <vector>

namespace graphmae2::graph::sampling::cpu {

/// @brief local[v] for every node v of the largest graph seen; -1 means "not in the current batch".
class NodeMap {
 public:
  /// Grows to `num_nodes` entries (new ones -1). Entries in use must have been reset before.
  void ensure(int64_t num_nodes) {
    if (static_cast<int64_t>(local_.size()) < num_nodes) local_.resize(static_cast<size_t>(num_nodes), -1);
  }
  int64_t get(int64_t node) const { return local_[static_cast<size_t>(node)]; }
  void set(int64_t node, int64_t local) { local_[static_cast<size_t>(node)] = local; }
  /// Back to -1 for nodes[0..count): the nodes the caller set.
  void reset(const int64_t* nodes, int64_t count) {
    for (int64_t i = 0; i < count; ++i) local_[static_cast<size_t>(nodes[i])] = -1;
  }

 private:
  std::vector<int64_t> local_;
};

/// The calling thread's map, grown to num_nodes (8 bytes per node, kept for the thread's lifetime). Callers
/// leave it all -1 when they return, exceptions included.
inline NodeMap& thread_node_map(int64_t num_nodes) {
  thread_local NodeMap map;
  map.ensure(num_nodes);
  return map;
}

}  // namespace graphmae2::graph::sampling::cpu
