#pragma once
// Edge-balanced parallel loop over CSR rows, shared by the CPU kernels of graph/ops and graph/sampling (private
// to them: nothing outside graph/ includes graph/*/cpu/).

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

namespace graphmae2::graph::cpu {

/// Runs fn(row_begin, row_end) over [0, num_rows) in parallel, in chunks of about equal cost, where a row costs
/// `edge_cost` per edge plus 1 (degrees are skewed, so equal row counts would leave threads idle).
/// Small problems (under ~32k units of work) run inline on the calling thread.
template <typename Fn>
void parallel_for_rows(const int64_t* indptr, int64_t num_rows, int64_t edge_cost, const Fn& fn) {
  if (num_rows <= 0) return;
  // key(r) = r + edge_cost * indptr[r] is strictly increasing: the cost of all rows before r.
  const auto key = [&](int64_t r) { return r + edge_cost * indptr[r]; };
  const int64_t total = key(num_rows);
  const int64_t chunks = std::min<int64_t>(num_rows, total < (1 << 15) ? 1 : 4 * at::get_num_threads());
  if (chunks <= 1) {
    fn(int64_t{0}, num_rows);
    return;
  }
  // First row whose cost prefix reaches the chunk's share.
  const auto boundary = [&](int64_t c) -> int64_t {
    if (c >= chunks) return num_rows;
    const int64_t target = total / chunks * c + total % chunks * c / chunks;
    int64_t lo = 0, hi = num_rows;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (key(mid) < target)
        lo = mid + 1;
      else
        hi = mid;
    }
    return lo;
  };
  at::parallel_for(0, chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t rb = boundary(c), re = boundary(c + 1);
      if (rb < re) fn(rb, re);
    }
  });
}

}  // namespace graphmae2::graph::cpu
