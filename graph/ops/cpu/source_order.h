#pragma once
// The edges of a CSR graph (rows = destinations) in source order: the transpose that the CPU backwards of spmm
// and gat_attention walk to reach each source's edges.

#include <cstdint>
#include <vector>

namespace graphmae2::graph::cpu {

/// Source c's slots are [col_ptr[c], col_ptr[c + 1]); slot k holds CSR edge slots[k].edge into row slots[k].row.
/// Within a source the edges keep their CSR order (a stable counting sort). One 16-byte record per edge, so the
/// sort's scattered writes and a pass's reads touch one cache line per edge.
struct SourceOrder {
  struct Slot {
    int64_t edge, row;
  };
  std::vector<int64_t> col_ptr;
  std::vector<Slot> slots;
};

inline SourceOrder source_order(const int64_t* indptr, const int64_t* indices, int64_t num_rows, int64_t num_cols) {
  const int64_t E = indptr[num_rows];
  SourceOrder o{std::vector<int64_t>(num_cols + 1, 0), std::vector<SourceOrder::Slot>(E)};
  for (int64_t e = 0; e < E; ++e) ++o.col_ptr[indices[e] + 1];
  for (int64_t c = 0; c < num_cols; ++c) o.col_ptr[c + 1] += o.col_ptr[c];
  std::vector<int64_t> next(o.col_ptr.begin(), o.col_ptr.end() - 1);
  for (int64_t r = 0; r < num_rows; ++r) {
    for (int64_t e = indptr[r]; e < indptr[r + 1]; ++e) o.slots[next[indices[e]]++] = {e, r};
  }
  return o;
}

}  // namespace graphmae2::graph::cpu
