#pragma once
// Per-node sampling logic shared by the CPU kernels and the CUDA kernels of graph/sampling (neighbor_sample,
// random_walk): a counter-based random stream and sampling without replacement, written once as
// __host__ __device__ functions so the CPU tests exercise exactly what a GPU thread runs. No torch, no allocation.

#include "graph/ops/host_device.h"

#include <cmath>
#include <cstdint>

namespace graphmae2::graph::sampling {

/// SplitMix64's finaliser: a bijective 64-bit mix (passes BigCrush when applied to a counter).
GRAPHMAE2_HOST_DEVICE uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// @brief A counter-based random stream keyed by (seed, stream id): the draws of one node depend only on the
/// seed, the layer and the node, never on which thread or GPU block handles it, so samples are the same on the
/// CPU whatever the thread count, and the same on the CPU and the GPU.
struct RandomStream {
  uint64_t key;
  uint64_t counter = 0;

  GRAPHMAE2_HOST_DEVICE RandomStream(uint64_t seed, uint64_t stream_a, uint64_t stream_b)
      : key(mix64(mix64(seed ^ 0x9E3779B97F4A7C15ULL) ^ mix64(stream_a + 0x632BE59BD9B4E019ULL) ^
                  (stream_b * 0xD1B54A32D192ED03ULL))) {}

  GRAPHMAE2_HOST_DEVICE uint64_t next() { return mix64(key + 0x9E3779B97F4A7C15ULL * ++counter); }

  /// Uniform integer in [0, n), n >= 1 (Lemire's multiply-shift; bias below n / 2^64).
  GRAPHMAE2_HOST_DEVICE uint64_t below(uint64_t n) {
    const uint64_t x = next();
#if defined(__CUDA_ARCH__)
    return __umul64hi(x, n);
#else
    return static_cast<uint64_t>((static_cast<unsigned __int128>(x) * n) >> 64);
#endif
  }

  /// Uniform double in (0, 1): 53 random bits, never 0 (so log() is finite).
  GRAPHMAE2_HOST_DEVICE double open_unit() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
};

/// Edges a node keeps when sampling `fanout` of its `degree` neighbours: all for fanout < 0, else min.
GRAPHMAE2_HOST_DEVICE int64_t sample_count(int64_t degree, int64_t fanout) {
  return fanout < 0 || fanout >= degree ? degree : fanout;
}

/// Sorts a short array ascending (insertion sort: the fan-outs it sees are small).
GRAPHMAE2_HOST_DEVICE void sort_small(int64_t* values, int64_t n) {
  for (int64_t i = 1; i < n; ++i) {
    const int64_t v = values[i];
    int64_t j = i - 1;
    while (j >= 0 && values[j] > v) {
      values[j + 1] = values[j];
      --j;
    }
    values[j + 1] = v;
  }
}

/// Writes k = sample_count(degree, fanout) distinct positions in [0, degree), ascending, to out[0..k), drawn
/// uniformly without replacement (every k-subset equally likely). Floyd's algorithm (O(k^2) membership scans)
/// when k is small against the degree, else a reservoir over all positions (O(degree)); which one runs depends
/// only on (k, degree), so a sample is reproducible. Returns k.
GRAPHMAE2_HOST_DEVICE int64_t sample_positions_uniform(RandomStream& rng, int64_t degree, int64_t fanout,
                                                       int64_t* out) {
  const int64_t k = sample_count(degree, fanout);
  if (k == degree) {
    for (int64_t i = 0; i < k; ++i) out[i] = i;
    return k;
  }
  if (k * k <= 4 * degree) {
    // Floyd: for j in [degree - k, degree): draw t in [0, j]; take t unless taken, else take j.
    int64_t filled = 0;
    for (int64_t j = degree - k; j < degree; ++j) {
      const auto t = static_cast<int64_t>(rng.below(static_cast<uint64_t>(j + 1)));
      bool taken = false;
      for (int64_t i = 0; i < filled; ++i) {
        if (out[i] == t) {
          taken = true;
          break;
        }
      }
      out[filled++] = taken ? j : t;
    }
  } else {
    // Reservoir (Algorithm R): position i replaces a uniform slot with probability k / (i + 1).
    for (int64_t i = 0; i < k; ++i) out[i] = i;
    for (int64_t i = k; i < degree; ++i) {
      const auto slot = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
      if (slot < k) out[slot] = i;
    }
  }
  sort_small(out, k);
  return k;
}

/// Weighted sampling without replacement (Efraimidis-Spirakis: the k largest keys log(u) / w): positions with
/// weight > 0 only, each drawn in proportion to its weight among those not yet drawn. Writes min(fanout,
/// positive-weight edges) positions ascending to out[0..) using keys[0..k) as scratch; all positive-weight
/// positions for fanout < 0. weights: the node's edge weights (non-negative, finite). Returns the count.
GRAPHMAE2_HOST_DEVICE int64_t sample_positions_weighted(RandomStream& rng, const float* weights, int64_t degree,
                                                        int64_t fanout, int64_t* out, double* keys) {
  int64_t filled = 0;
  if (fanout < 0) {
    for (int64_t i = 0; i < degree; ++i) {
      if (weights[i] > 0.0f) out[filled++] = i;
    }
    return filled;
  }
  int64_t smallest = 0;  // slot of the smallest key once the reservoir is full
  for (int64_t i = 0; i < degree; ++i) {
    const double w = weights[i];
    if (!(w > 0.0)) continue;
    const double key = log(rng.open_unit()) / w;
    if (filled < fanout) {
      out[filled] = i;
      keys[filled] = key;
      ++filled;
      if (filled == fanout) {
        smallest = 0;
        for (int64_t s = 1; s < filled; ++s)
          if (keys[s] < keys[smallest]) smallest = s;
      }
    } else if (fanout > 0 && key > keys[smallest]) {
      out[smallest] = i;
      keys[smallest] = key;
      for (int64_t s = 0; s < filled; ++s)
        if (keys[s] < keys[smallest]) smallest = s;
    }
  }
  sort_small(out, filled);
  return filled;
}

/// Stream id of random walks (neighbour sampling uses the layer index, which is small).
constexpr uint64_t kRandomWalkStream = 0x5A1A7'0000'0001ULL;

/// A uniform random walk of `length` steps from `root` along rows (each step moves to a uniform edge's index):
/// out[0] = root, out[t] = the node after t steps; a node without edges ends the walk and the rest is -1.
GRAPHMAE2_HOST_DEVICE void random_walk(RandomStream& rng, const int64_t* indptr, const int64_t* indices, int64_t root,
                                       int64_t length, int64_t* out) {
  int64_t v = root;
  out[0] = v;
  for (int64_t t = 1; t <= length; ++t) {
    const int64_t degree = v < 0 ? 0 : indptr[v + 1] - indptr[v];
    v = degree == 0 ? -1 : indices[indptr[v] + static_cast<int64_t>(rng.below(static_cast<uint64_t>(degree)))];
    out[t] = v;
  }
}

}  // namespace graphmae2::graph::sampling
