#include "graph/sampling/cpu/local_clustering_kernel.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace graphmae2::graph::sampling::cpu {

namespace {

/// Neighbours ahead of the one being updated whose state is prefetched (the push is memory-latency bound).
constexpr int64_t kPrefetchDistance = 12;

/// PageRank state of one node during one seed's push. x < 0 means "not in the solution" (the package's x_map
/// holds the seed and every node pushed at least once); r is the residual (absent = 0 in the package's r_map).
struct PushState {
  double x = -1.0;
  double r = 0.0;
};

/// @brief One thread's scratch: node-indexed state reset sparsely after each seed, the FIFO queue, the result.
struct PushWorkspace {
  std::vector<PushState> state;
  std::vector<int64_t> touched;  // nodes whose state changed
  std::vector<int64_t> queue;    // FIFO: pops advance `head`, never erase
  std::vector<std::pair<double, int64_t>> solution;

  explicit PushWorkspace(int64_t num_nodes) : state(static_cast<size_t>(num_nodes)) {}

  void reset() {
    for (const int64_t v : touched) state[static_cast<size_t>(v)] = PushState{};
    touched.clear();
    queue.clear();
    solution.clear();
  }
};

/// The package's pprgrow (aclpagerank.cpp) for one seed, step for step: the same queue rules (a node enters
/// when its residual crosses rho * degree from below, and again after its own push if it is still above), the
/// same floating-point expressions in the same order. Fills ws.solution with (x, node) of the x_map's nodes.
void push_one_seed(const int64_t* indptr, const int64_t* indices, int64_t seed, const LocalClusteringOptions& o,
                   PushWorkspace& ws) {
  const double alpha = o.alpha, eps = o.rho;
  const auto degree = [&](int64_t v) { return static_cast<double>(indptr[v + 1] - indptr[v]); };
  auto& st = ws.state;
  st[seed].r = 1;
  st[seed].x = 0;
  ws.touched.push_back(seed);
  if (st[seed].r >= eps * degree(seed)) ws.queue.push_back(seed);
  size_t head = 0;
  int64_t steps = 0;
  while (head < ws.queue.size() && steps < o.max_push_steps) {
    const int64_t j = ws.queue[head++];
    const double rj = st[j].r;
    st[j].x = (st[j].x < 0 ? 0.0 : st[j].x) + alpha * rj;
    const double delta = ((1 - alpha) / 2) * (rj / degree(j));
    st[j].r = ((1 - alpha) / 2) * rj;
    if (st[j].r >= eps * degree(j)) ws.queue.push_back(j);
    const int64_t* neighbours = indices + indptr[j];
    const int64_t count = indptr[j + 1] - indptr[j];
    for (int64_t k = 0; k < count; ++k) {
      // The state and degree of a neighbour a few steps ahead: random reads, so fetch them early.
      if (k + kPrefetchDistance < count) {
        __builtin_prefetch(&st[neighbours[k + kPrefetchDistance]], 1);
        __builtin_prefetch(&indptr[neighbours[k + kPrefetchDistance]], 0);
      }
      const int64_t u = neighbours[k];
      const double ru_old = st[u].r;
      const double ru_new = delta + ru_old;
      if (ru_old == 0.0 && st[u].x < 0) ws.touched.push_back(u);
      st[u].r = ru_new;
      const double threshold = eps * degree(u);
      if (ru_new > threshold && ru_old <= threshold) ws.queue.push_back(u);
    }
    ++steps;
  }
  for (const int64_t v : ws.touched) {
    if (st[v].x >= 0) ws.solution.emplace_back(st[v].x, v);
  }
}

}  // namespace

EgoGraphs local_clustering(const torch::Tensor& indptr, const torch::Tensor& indices, const torch::Tensor& seeds,
                           const LocalClusteringOptions& options) {
  const int64_t num_nodes = indptr.size(0) - 1;
  const int64_t num_seeds = seeds.size(0);
  const int64_t ego = options.ego_size;
  const int64_t* ip = indptr.data_ptr<int64_t>();
  const int64_t* ix = indices.data_ptr<int64_t>();
  const int64_t* sd = seeds.data_ptr<int64_t>();

  // Fixed-width slots per seed, compacted at the end: seeds finish in any order on any thread.
  std::vector<int64_t> slot_nodes(static_cast<size_t>(num_seeds * ego));
  std::vector<double> slot_ppr(static_cast<size_t>(num_seeds * ego));
  std::vector<int64_t> lengths(static_cast<size_t>(num_seeds));

  at::parallel_for(0, num_seeds, 16, [&](int64_t begin, int64_t end) {
    PushWorkspace ws(num_nodes);
    std::vector<std::pair<double, int64_t>> kept;  // (score, node) in PageRank order
    std::vector<double> kept_ppr;
    for (int64_t s = begin; s < end; ++s) {
      const int64_t seed = sd[s];
      ws.reset();
      push_one_seed(ip, ix, seed, options, ws);
      auto& sol = ws.solution;
      const auto by_ppr = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      };
      const auto keep = std::min<int64_t>(ego, static_cast<int64_t>(sol.size()));
      std::partial_sort(sol.begin(), sol.begin() + keep, sol.end(), by_ppr);
      // The reference's d_inv: 1 / degree, 0 for an isolated node, at most 1.
      kept.clear();
      for (int64_t i = 0; i < keep; ++i) {
        const int64_t v = sol[static_cast<size_t>(i)].second;
        const double d = static_cast<double>(ip[v + 1] - ip[v]);
        const double d_inv = d == 0 ? 0.0 : std::min(1.0, 1.0 / d);
        kept.emplace_back(sol[static_cast<size_t>(i)].first * d_inv, i);
      }
      std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      const auto is_seed = [&](const auto& k) { return sol[static_cast<size_t>(k.second)].second == seed; };
      const auto seed_at = std::find_if(kept.begin(), kept.end(), is_seed);
      if (seed_at != kept.end()) std::rotate(kept.begin(), seed_at, seed_at + 1);
      int64_t* out_nodes = slot_nodes.data() + s * ego;
      double* out_ppr = slot_ppr.data() + s * ego;
      for (int64_t i = 0; i < keep; ++i) {
        const auto& entry = sol[static_cast<size_t>(kept[static_cast<size_t>(i)].second)];
        out_nodes[i] = entry.second;
        out_ppr[i] = entry.first;
      }
      lengths[static_cast<size_t>(s)] = keep;
    }
    ws.reset();
  });

  EgoGraphs out;
  out.seeds = seeds.clone();
  out.indptr = torch::empty({num_seeds + 1}, torch::kLong);
  int64_t* op = out.indptr.data_ptr<int64_t>();
  op[0] = 0;
  for (int64_t s = 0; s < num_seeds; ++s) op[s + 1] = op[s] + lengths[static_cast<size_t>(s)];
  out.indices = torch::empty({op[num_seeds]}, torch::kLong);
  torch::Tensor ppr = options.return_ppr ? torch::empty({op[num_seeds]}, torch::kDouble) : torch::Tensor();
  int64_t* oi = out.indices.data_ptr<int64_t>();
  double* pp = options.return_ppr ? ppr.data_ptr<double>() : nullptr;
  at::parallel_for(0, num_seeds, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; ++s) {
      std::copy_n(slot_nodes.data() + s * ego, lengths[static_cast<size_t>(s)], oi + op[s]);
      if (pp != nullptr) std::copy_n(slot_ppr.data() + s * ego, lengths[static_cast<size_t>(s)], pp + op[s]);
    }
  });
  if (options.return_ppr) out.ppr = ppr;
  return out;
}

}  // namespace graphmae2::graph::sampling::cpu
