#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a counter-based generator
// compiled for the host and the device, so a CPU kernel and a CUDA kernel draw the same numbers for the same
// (seed, offset, index). The fused GAT attention recomputes its dropout mask from it in backward instead of
// storing one.

#include "graph/ops/host_device.h"

#include <cstdint>

namespace graphmae2::graph {

struct Philox4x32 {
  uint32_t v[4];
};

/// The 4 x 32 random bits of counter `counter` under `key` (10 rounds, as Random123's philox4x32).
GRAPHMAE2_HOST_DEVICE Philox4x32 philox4x32(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * counter.v[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * counter.v[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    counter = Philox4x32{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kWeyl0;
    key1 += kWeyl1;
  }
  return counter;
}

/// Uniform in [0, 1) from the top 24 bits (exact in float).
GRAPHMAE2_HOST_DEVICE float philox_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

/// The random bits of block `block` of `edge` when each edge owns `blocks` Philox blocks:
/// counter (edge * blocks + block, offset), key = seed.
GRAPHMAE2_HOST_DEVICE Philox4x32 philox_edge_bits(uint64_t seed, uint64_t offset, int64_t edge, int64_t block,
                                                  int64_t blocks) {
  const uint64_t index = static_cast<uint64_t>(edge) * static_cast<uint64_t>(blocks) + static_cast<uint64_t>(block);
  return philox4x32(Philox4x32{{static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                                static_cast<uint32_t>(offset), static_cast<uint32_t>(offset >> 32)}},
                    static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

/// Whether dropout at rate `rate` keeps entry (edge, head) of an [E, H] tensor. One Philox block serves 4 heads:
/// word head % 4 of block head / 4 of the edge's ceil(H / 4).
GRAPHMAE2_HOST_DEVICE bool philox_keep(uint64_t seed, uint64_t offset, int64_t edge, int64_t head, int64_t heads,
                                       float rate) {
  return philox_uniform(philox_edge_bits(seed, offset, edge, head / 4, (heads + 3) / 4).v[head % 4]) >= rate;
}

/// The dropout threshold on 24-bit uniforms: u = (bits >> 8) / 2^24 >= rate  <=>  (bits >> 8) >= ceil(rate * 2^24),
/// rate as a float (exact in double).
GRAPHMAE2_HOST_DEVICE uint32_t philox_dropout_threshold(double rate) {
  const double scaled = static_cast<double>(static_cast<float>(rate)) * 16777216.0;
  const uint32_t floor_scaled = static_cast<uint32_t>(scaled);
  return floor_scaled + (static_cast<double>(floor_scaled) < scaled ? 1u : 0u);
}

/// The 32 random bits of element i of a dropout mask (graph/ops/dropout.h). Elements go in chunks of 64, one chunk
/// per 16 Philox blocks: element i uses word (i % 64) / 16 of block (i / 64) * 16 + i % 16, so each word of a
/// chunk's 16 blocks covers 16 consecutive elements (a CPU kernel then compares and scales them in vector lanes).
inline constexpr int64_t kDropoutChunk = 64;
GRAPHMAE2_HOST_DEVICE uint32_t philox_dropout_bits(uint64_t seed, uint64_t offset, int64_t i) {
  const int64_t block = (i / kDropoutChunk) * 16 + i % 16;
  return philox_edge_bits(seed, offset, block, 0, 1).v[(i % kDropoutChunk) / 16];
}

}  // namespace graphmae2::graph
